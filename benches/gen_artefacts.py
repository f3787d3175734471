#!/usr/bin/env python3
"""Writes one file per artefact case of issue #24, each holding one generated SendGrid-shaped key
(never a literal: keys come from a seeded generator), for comparing scanners on the same corpus:

    python3 benches/gen_artefacts.py --out /tmp/artefacts --seed 1
    python3 benches/artefacts.py /tmp/artefacts sgscan=target/release/sgscan kingfisher=… betterleaks=…

Cases are built by the library or tool that really writes the format where one is on the machine
(Python's marshal/py_compile, pickle, sqlite3, email, zipfile, tarfile; javac if a JDK is
installed), otherwise by hand from the format's spec. `keys.tsv` lists case, file and key
fingerprint (SHA-256), never the key.
"""

import argparse
import base64
import gzip
import hashlib
import io
import os
import pickle
import py_compile
import random
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from email.message import EmailMessage

def make_key(rng):
    # As SendGrid issues them: canonical base64url of 16 and 32 random bytes.
    part = lambda n: base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(n))).decode().rstrip("=")
    return "SG." + part(16) + "." + part(32)


def pyc(out, key):
    src = os.path.join(out, "settings.py")
    with open(src, "w") as f:
        f.write(f'SENDGRID_API_KEY = "{key}"\n')
    py_compile.compile(src, cfile=os.path.join(out, "settings.cpython-311.pyc"))
    os.remove(src)
    return "settings.cpython-311.pyc"


def pickled(out, key):
    name = "session.pkl"
    with open(os.path.join(out, name), "wb") as f:
        pickle.dump({"sendgrid_api_key": key, "retries": 3}, f, protocol=4)
    return name


def msgpack(out, key):
    # fixmap of 2: "k" -> str8 key, "n" -> 3 (spec: https://github.com/msgpack/msgpack/blob/master/spec.md)
    body = b"\x82\xa1k\xd9" + bytes([len(key)]) + key.encode() + b"\xa1n\x03"
    name = "cache.msgpack"
    with open(os.path.join(out, name), "wb") as f:
        f.write(body)
    return name


def protobuf(out, key):
    # field 1 (string): tag 0x0a, varint length; field 2 (varint): 0x10 0x01
    body = b"\x0a" + bytes([len(key)]) + key.encode() + b"\x10\x01"
    name = "config.pb"
    with open(os.path.join(out, name), "wb") as f:
        f.write(body)
    return name


def rdb(out, key):
    # REDIS0009, select db 0, a string entry: type 0, key "sg", value with 14-bit length (0x40 | hi, lo)
    value = key.encode()
    body = b"REDIS0009" + b"\xfe\x00" + b"\x00" + b"\x02sg" + bytes([0x40 | (len(value) >> 8), len(value) & 0xFF]) + value + b"\xff" + b"\x00" * 8
    name = "dump.rdb"
    with open(os.path.join(out, name), "wb") as f:
        f.write(body)
    return name


def java_serialized(out, key):
    # STREAM_MAGIC, STREAM_VERSION, TC_STRING, u2 length, modified UTF-8
    body = b"\xac\xed\x00\x05\x74" + struct.pack(">H", len(key)) + key.encode()
    name = "state.ser"
    with open(os.path.join(out, name), "wb") as f:
        f.write(body)
    return name


def java_class(out, key):
    if not shutil.which("javac"):
        return None
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "Mail.java"), "w") as f:
            f.write(f'public class Mail {{ public static final String KEY = "{key}"; }}\n')
        subprocess.run(["javac", "-d", d, os.path.join(d, "Mail.java")], check=True)
        shutil.copy(os.path.join(d, "Mail.class"), os.path.join(out, "Mail.class"))
        jar = io.BytesIO()
        with zipfile.ZipFile(jar, "w") as z:
            z.write(os.path.join(d, "Mail.class"), "com/example/Mail.class")
        war = io.BytesIO()
        with zipfile.ZipFile(war, "w") as z:
            z.writestr("WEB-INF/lib/mail.jar", jar.getvalue())
        with zipfile.ZipFile(os.path.join(out, "app.ear"), "w") as z:
            z.writestr("web.war", war.getvalue())
    return "Mail.class"


def apk(out, key):
    # A dex string_data item: ULEB128 length in UTF-16 units, MUTF-8 bytes, NUL; inside a zip.
    dex = b"dex\n035\x00" + b"\x00" * 100 + bytes([len(key)]) + key.encode() + b"\x00" + b"\x00" * 16
    name = "app.apk"
    with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("classes.dex", dex)
        z.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00")
    return name


def sqlite(out, key):
    name = "settings.db"
    path = os.path.join(out, name)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE settings (name TEXT, value TEXT, updated INTEGER)")
    con.execute("INSERT INTO settings VALUES (?, ?, ?)", ("SENDGRID_API_KEY", key, 1733500000))
    con.commit()
    con.close()
    return name


def eml(out, key):
    msg = EmailMessage()
    msg["From"] = "ops@example.com"
    msg["To"] = "dev@example.com"
    msg["Subject"] = "new mail settings"
    # A long line: quoted-printable wraps it at 76 characters, inside the key.
    msg.set_content("Use these settings from today on, in every service that sends mail:  SENDGRID_API_KEY=" + key + "\n", cte="quoted-printable")
    name = "settings.eml"
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes(msg))
    return name


def docx(out, key):
    third = len(key) // 3
    runs = "".join(
        f'<w:r w:rsidR="00A1{i}"><w:t>{part}</w:t></w:r><w:proofErr w:type="spellStart"/>'
        for i, part in enumerate([key[:third], key[third : 2 * third], key[2 * third :]])
    )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>SENDGRID_API_KEY=</w:t></w:r>{runs}</w:p></w:body></w:document>"
    )
    name = "runbook.docx"
    with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("word/document.xml", doc)
    return name


def pdf(out, key):
    content = zlib.compress(f"BT /F1 12 Tf 72 712 Td (SENDGRID_API_KEY={key}) Tj ET".encode())
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    body += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    name = "invoice.pdf"
    with open(os.path.join(out, name), "wb") as f:
        f.write(body)
    return name


def git_in_tar(out, key):
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x", GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@x")
        run = lambda *a: subprocess.run(["git", "-C", d, *a], check=True, env=env, capture_output=True)
        run("init", "-q")
        with open(os.path.join(d, "app.env"), "w") as f:
            f.write(f"SENDGRID_API_KEY={key}\n")
        run("add", "app.env")
        run("commit", "-qm", "settings")
        os.remove(os.path.join(d, "app.env"))
        name = "backup.tar.gz"
        with tarfile.open(os.path.join(out, name), "w:gz") as t:
            t.add(d, arcname="app")
    return name


def utf16_binary(out, key):
    # A .NET #US heap entry: compressed length (bytes + 1), UTF-16LE, a trailing flag byte.
    s = key.encode("utf-16-le")
    body = b"\x00" * 32 + b"#US\x00" + b"\x00" + bytes([len(s) + 1]) + s + b"\x00" + b"\x00" * 32
    name = "Mailer.dll"
    with open(os.path.join(out, name), "wb") as f:
        f.write(b"MZ" + body)
    return name


CASES = [
    ("pyc", pyc), ("pickle", pickled), ("msgpack", msgpack), ("protobuf", protobuf), ("redis-rdb", rdb),
    ("java-serialization", java_serialized), ("java-class", java_class), ("dex-in-apk", apk),
    ("sqlite", sqlite), ("quoted-printable-mail", eml), ("docx-split-runs", docx), ("pdf-flate", pdf),
    ("git-dir-in-tarball", git_in_tar), ("utf16-in-binary", utf16_binary),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for case, build in CASES:
        key = make_key(rng)
        d = os.path.join(args.out, case)
        os.makedirs(d, exist_ok=True)
        name = build(d, key)
        if name is None:
            shutil.rmtree(d)
            continue
        rows.append((case, f"{case}/{name}", hashlib.sha256(key.encode()).hexdigest()))
    with open(os.path.join(args.out, "keys.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
