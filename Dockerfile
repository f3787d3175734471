# syntax=docker/dockerfile:1
# sgscan in a container: `docker run --rm -v "$PWD:/src" ghcr.io/sgscan/sgscan git /src`.
# The builder needs a C compiler (aws-lc-sys, rustls's crypto, is built from C); the runtime image
# holds git (CI jobs check out with it) and CA certificates (--verify speaks HTTPS).

FROM rust:1-slim-bookworm AS builder
WORKDIR /build
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked \
    && cp target/release/sgscan /usr/local/bin/sgscan

FROM debian:bookworm-slim
# Debian's security updates replace versions, so pinned versions would break the build; the
# release tracks bookworm's. A mounted checkout belongs to another user, and sgscan only reads it:
# git's ownership check is turned off.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group sgscan \
    && git config --system --add safe.directory '*'
COPY --from=builder /usr/local/bin/sgscan /usr/local/bin/sgscan
USER 10001:10001
WORKDIR /src
ENTRYPOINT ["sgscan"]
CMD ["--help"]
