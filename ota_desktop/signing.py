"""Payload signing (cryptography): a project signing key, Ed25519 by default or ECDSA P-256.

A signature covers the payload file's SHA-256 digest (32 bytes), so a multi-GB image is hashed
once in a stream and never read into memory; Ed25519 signs the digest as its message, ECDSA
signs it as a prehashed SHA-256. Signatures travel as base64 text. The private key is kept
only encrypted with a passphrase (PKCS#8, the library's best available encryption).
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ota_desktop.errors import BadInput

Algorithm = Literal["ed25519", "ecdsa-p256"]
ALGORITHMS: tuple[Algorithm, ...] = ("ed25519", "ecdsa-p256")
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
MIN_PASSPHRASE = 8


def generate(algorithm: str = "ed25519") -> PrivateKey:
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise BadInput(f"A signing key is one of {', '.join(ALGORITHMS)}, not {algorithm!r}.")


def algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    if isinstance(key.curve, ec.SECP256R1):
        return "ecdsa-p256"
    raise BadInput("Only Ed25519 and ECDSA P-256 keys can sign payloads.")


def encrypted_pem(key: PrivateKey, passphrase: str) -> str:
    """The private key as encrypted PKCS#8 PEM (the only form it is ever stored or shown)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BadInput(f"A signing key's passphrase is at least {MIN_PASSPHRASE} characters.")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))).decode("ascii")


def unencrypted_pem(key: PrivateKey) -> str:
    """A private key as plain PKCS#8 PEM: only for a factory station's own key, which signs
    its check-in bundles unattended and never leaves the station's file."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def public_pem(key: PrivateKey | PublicKey) -> str:
    public = key.public_key() if isinstance(key, (ed25519.Ed25519PrivateKey,
                                                  ec.EllipticCurvePrivateKey)) else key
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_private(pem: str | bytes, passphrase: str | None) -> PrivateKey:
    """A private key from PEM (encrypted with ``passphrase``, or plain when importing one
    made elsewhere); BadInput with the reason otherwise."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(
            data, passphrase.encode("utf-8") if passphrase else None)
    except TypeError as exc:  # encrypted without a passphrase, or plain with one
        raise BadInput("This key needs its passphrase." if passphrase is None
                       else "This key is not encrypted; import it without a passphrase."
                       ) from exc
    except ValueError as exc:
        raise BadInput("Wrong passphrase, or not a PEM private key.") from exc
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        raise BadInput("Only Ed25519 and ECDSA P-256 keys can sign payloads.")
    algorithm_of(key)
    return key


def load_public(pem: str | bytes) -> PublicKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise BadInput("Not a PEM public key.") from exc
    if not isinstance(key, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey)):
        raise BadInput("Only Ed25519 and ECDSA P-256 keys verify payloads.")
    algorithm_of(key)
    return key


def _digest(sha256_hex: str) -> bytes:
    try:
        digest = bytes.fromhex(sha256_hex)
    except ValueError as exc:
        raise BadInput("A payload is signed by its sha256 (64 hex digits).") from exc
    if len(digest) != 32:
        raise BadInput("A payload is signed by its sha256 (64 hex digits).")
    return digest


def sign(key: PrivateKey, sha256_hex: str) -> str:
    digest = _digest(sha256_hex)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.sign(digest)
    else:
        raw = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    return base64.b64encode(raw).decode("ascii")


def verify(public: PublicKey, sha256_hex: str, signature: str) -> bool:
    """True when ``signature`` (base64) is the key's signature of that digest."""
    digest = _digest(sha256_hex)
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(raw, digest)
        else:
            public.verify(raw, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True
