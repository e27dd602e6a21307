"""Build a CMS-signed SWUpdate image (.swu) for the real-client tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def make_signer(folder: Path) -> tuple[Path, rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OTA Desktop test signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    path = folder / "signer.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_swu(folder: Path, version: str, image: bytes, install_to: Path,
             signer: tuple[Path, rsa.RSAPrivateKey, x509.Certificate]) -> Path:
    """sw-description (libconfig), its detached CMS signature, and one rawfile image, packed
    as a cpio (crc) archive in the order SWUpdate requires."""
    work = folder / f"swu-{version}"
    work.mkdir()
    (work / "image.bin").write_bytes(image)
    description = (
        "software =\n{\n"
        f'    version = "{version}";\n'
        '    hardware-compatibility: [ "1.0" ];\n'
        "    images: (\n        {\n"
        '            filename = "image.bin";\n'
        '            type = "rawfile";\n'
        f'            path = "{install_to}";\n'
        f'            sha256 = "{hashlib.sha256(image).hexdigest()}";\n'
        "        }\n    );\n}\n"
    )
    (work / "sw-description").write_text(description)
    _, key, cert = signer
    signature = (
        pkcs7.PKCS7SignatureBuilder().set_data(description.encode())
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature,
                                           pkcs7.PKCS7Options.Binary,
                                           pkcs7.PKCS7Options.NoCapabilities])
    )
    (work / "sw-description.sig").write_bytes(signature)
    archive = subprocess.run(
        ["cpio", "-o", "-H", "crc", "--quiet"], cwd=work, check=True, capture_output=True,
        input=b"sw-description\nsw-description.sig\nimage.bin\n").stdout
    out = folder / f"main-{version}.swu"
    out.write_bytes(archive)
    return out
