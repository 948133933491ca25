"""Signed results: each site's scanner holds its own Ed25519 private key; the central side keeps only
the public keys it enrolled (`secops scanners enrol SITE --public-key FILE`).

What the scanner returns through the broker is an envelope {"v", "body", "sig"}: `body` is the result's
JSON text, `sig` the signature over the task id, site and run the central side itself sent, and that
text. The central side checks the signature with the key enrolled for the site it sent the task to,
before it parses the body; a result forged on the broker, another site's result, an altered body or a
result copied from another task all fail that check.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secops.errors import SecopsError
from secops.i18n import _
from secops.safeio import write_file

ENVELOPE_VERSION = 1
DOMAIN = b"secops-remote-result-v1"


class BadSignature(ValueError):
    """The result is not signed by the enrolled key of the site the task was sent to."""


def message(task_id: str, site: str, run_id: int, body: bytes) -> bytes:
    """What is signed: length-prefixed fields, so no field can run into the next."""
    parts = [DOMAIN, task_id.encode(), site.encode(), str(run_id).encode(), body]
    return b"".join(len(p).to_bytes(8, "big") + p for p in parts)


def generate(private_path: Path) -> tuple[Path, str]:
    """A new key pair: the private key (PEM, mode 0600) and FILE.pub (the public key, one line)."""
    if private_path.exists():
        raise SecopsError(_("{path}: already exists; a scanner key is never overwritten (remove it first)").format(
            path=private_path))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    write_file(private_path, pem, mode=0o600)
    public = public_text(key.public_key())
    public_path = private_path.with_name(private_path.name + ".pub")
    write_file(public_path, public + "\n")
    return public_path, public


def public_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519 " + base64.b64encode(raw).decode()


def fingerprint(public: str) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(parse_public(public).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).digest()).decode().rstrip("=")


def parse_public(text: str) -> Ed25519PublicKey:
    """'ed25519 BASE64' (what keygen writes) or a PEM public key."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(_("not an Ed25519 key"))
            return key
        kind, _space, data = text.partition(" ")
        if kind != "ed25519":
            raise ValueError(_("expected 'ed25519 BASE64'"))
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip(), validate=True))
    except ValueError as exc:
        raise SecopsError(_("not an Ed25519 public key: {error}").format(error=exc)) from exc


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecopsError(_("{path}: cannot read the scanner's signing key: {error}").format(
            path=path, error=exc.strerror or exc)) from exc
    if path.stat().st_mode & 0o077:
        raise SecopsError(_("{path}: the signing key is readable by others; chmod 600 {path}").format(path=path))
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SecopsError(_("{path}: not a PEM private key without a passphrase: {error}").format(
            path=path, error=exc)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SecopsError(_("{path}: not an Ed25519 key (make one with `secops scanner keygen`)").format(path=path))
    return key


def seal(key: Ed25519PrivateKey, task_id: str, site: str, run_id: int, body: str) -> dict[str, Any]:
    sig = key.sign(message(task_id, site, run_id, body.encode()))
    return {"v": ENVELOPE_VERSION, "body": body, "sig": base64.b64encode(sig).decode()}


def open_envelope(envelope: Any, public: Ed25519PublicKey, task_id: str, site: str, run_id: int) -> str:
    """The body text, once the signature over (task id, site, run, body) checks out; else BadSignature."""
    if not isinstance(envelope, dict) or set(envelope) != {"v", "body", "sig"}:
        raise BadSignature("the result is not a signed envelope")
    body, sig = envelope["body"], envelope["sig"]
    if envelope["v"] != ENVELOPE_VERSION or not isinstance(body, str) or not isinstance(sig, str):
        raise BadSignature("the result is not a signed envelope")
    try:
        public.verify(base64.b64decode(sig, validate=True), message(task_id, site, run_id, body.encode()))
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature(f"bad signature: not signed by site {site}'s enrolled key for task {task_id}") from exc
    return body
