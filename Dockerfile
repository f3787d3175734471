# syntax=docker/dockerfile:1
# sgscan in a container: `docker run --rm -v "$PWD:/src" sgscan git /src`.
#
# Needs BuildKit (`RUN --mount` caches, `COPY --chmod`): the default builder of Docker Engine 23
# and later and of `docker buildx build`; with an older engine, `DOCKER_BUILDKIT=1 docker build .`.
#
# Two ways to fill the image, on one runtime stage:
# - `docker build -t sgscan .` (the last stage) builds sgscan from this checkout, with cargo.
# - `--target release` copies a binary built beforehand to `dist/linux-$TARGETARCH/sgscan`: the
#   release workflow puts its linux/amd64 and linux/arm64 release binaries there, so the image holds
#   the very binaries of the release archives and no emulated compile is needed for arm64.
#
# The base images are pinned by tag, not by digest: the machine this was written on could not reach
# a registry, and a digest that was not read from one would be invented. To pin them, read each
# digest (`docker buildx imagetools inspect rust:1-slim-bookworm`, or `docker pull` then
# `docker inspect --format '{{index .RepoDigests 0}}'`) and write `FROM rust:1-slim-bookworm@sha256:…`.

FROM rust:1-slim-bookworm AS builder
# The builder needs a C compiler (aws-lc-sys, rustls's crypto, is built from C): the image has one.
WORKDIR /build
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked \
    && cp target/release/sgscan /usr/local/bin/sgscan

FROM debian:bookworm-slim AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sgscan" \
      org.opencontainers.image.description="Finds leaked SendGrid API keys in files, archives and git history, verifies them against the SendGrid API and revokes or rotates them" \
      org.opencontainers.image.source="https://github.com/sgscan/sgscan" \
      org.opencontainers.image.url="https://github.com/sgscan/sgscan" \
      org.opencontainers.image.documentation="https://github.com/sgscan/sgscan#readme" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# The runtime holds git (CI jobs check out with it) and CA certificates (--verify speaks HTTPS).
# Debian's security updates replace versions, so pinned versions would break the build; the
# release tracks bookworm's. A mounted checkout belongs to another user, and sgscan only reads it:
# git's ownership check is turned off.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group sgscan \
    && git config --system --add safe.directory '*'
USER 10001:10001
WORKDIR /src
ENTRYPOINT ["sgscan"]
CMD ["--help"]

FROM runtime AS release
ARG TARGETARCH
COPY --chmod=0755 dist/linux-${TARGETARCH}/sgscan /usr/local/bin/sgscan

FROM runtime
COPY --from=builder /usr/local/bin/sgscan /usr/local/bin/sgscan
