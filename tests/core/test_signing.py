"""Payload signing: Ed25519 and ECDSA P-256 over the file's sha256; the private key stored
only encrypted; tampered files and wrong keys do not verify."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from ota_desktop import signing
from ota_desktop.auth import Principal
from ota_desktop.errors import BadInput, Forbidden, RuleViolation
from ota_desktop.model import ReleaseRef
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

SHA = hashlib.sha256(b"firmware").hexdigest()


@pytest.mark.parametrize("algorithm", signing.ALGORITHMS)
def test_sign_and_verify_and_tamper(algorithm) -> None:
    key = signing.generate(algorithm)
    public = signing.load_public(signing.public_pem(key))
    signature = signing.sign(key, SHA)
    assert signing.verify(public, SHA, signature)
    other = hashlib.sha256(b"firmwarE").hexdigest()
    assert not signing.verify(public, other, signature)  # another file
    flipped = bytearray(signature.encode())
    flipped[3] = ord("A") if flipped[3] != ord("A") else ord("B")
    assert not signing.verify(public, SHA, flipped.decode())  # a flipped byte
    assert not signing.verify(public, SHA, "not base64!")
    wrong = signing.load_public(signing.public_pem(signing.generate(algorithm)))
    assert not signing.verify(wrong, SHA, signature)  # the wrong key


def test_the_private_key_is_stored_only_encrypted(small_demo: Path) -> None:
    service = ProjectService(Store.open(small_demo))
    public = service.create_signing_key("correct horse battery")
    assert "PUBLIC KEY" in public
    stored = service.db.execute("SELECT private_pem FROM signing_key").fetchone()[0]
    assert "ENCRYPTED PRIVATE KEY" in stored
    with pytest.raises(BadInput, match="passphrase"):
        service.signing_key("wrong passphrase")
    with pytest.raises(RuleViolation):
        service.create_signing_key("another one please")
    with pytest.raises(BadInput, match="at least"):
        signing.encrypted_pem(signing.generate(), "short")


def test_signing_payloads_and_who_may(small_demo: Path) -> None:
    service = ProjectService(Store.open(small_demo))
    service.add_payload(ReleaseRef("main", version="2.0"), "real.swu", size=8, sha256=SHA,
                        attributes={"hardware_version": "evt"})
    member = ProjectService(Store.open(small_demo), principal=Principal("mo", "member"))
    with pytest.raises(Forbidden):
        member.create_signing_key("correct horse battery")
    service.create_signing_key("correct horse battery", "ecdsa-p256")
    assert member.sign_payloads("correct horse battery") >= 1
    row = service.db.execute("SELECT signature FROM payloads WHERE sha256 = ?",
                             [SHA]).fetchone()
    public = signing.load_public(service.db.execute(
        "SELECT public_pem FROM signing_key").fetchone()[0])
    assert signing.verify(public, SHA, row[0])


def test_cli_create_sign_verify(small_demo: Path, tmp_path: Path) -> None:
    from ota_desktop.artifacts import ArtifactStore, artifact_root

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ota_desktop", *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    image = tmp_path / "main-2.0.swu"
    image.write_bytes(b"the real image" * 1000)
    assert cli("payload", "add", "--db", str(small_demo), "--software-type", "main",
               "--version", "2.0", "--hardware-version", "evt", str(image)).returncode == 0
    assert cli("signing-key", "create", "--db", str(small_demo),
               stdin="correct horse battery\n").returncode == 0
    assert cli("sign", "--db", str(small_demo), stdin="wrong passphrase\n").returncode == 2
    signed = cli("sign", "--db", str(small_demo), stdin="correct horse battery\n")
    assert signed.returncode == 0 and "Signed" in signed.stdout
    ok = cli("verify", "--db", str(small_demo), str(image))
    assert ok.returncode == 0 and "signature OK (ed25519" in ok.stdout
    tampered = tmp_path / "tampered.swu"
    data = bytearray(image.read_bytes())
    data[100] ^= 1
    tampered.write_bytes(bytes(data))
    assert cli("verify", "--db", str(small_demo), str(tampered)).returncode == 1
    public = tmp_path / "key.pem"
    public.write_text(cli("signing-key", "show", "--db", str(small_demo)).stdout)
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    signature = Store.open(small_demo).db.execute(
        "SELECT signature FROM payloads WHERE sha256 = ?", [sha]).fetchone()[0]
    sig = tmp_path / "main-2.0.swu.sig"
    sig.write_text(signature)
    assert cli("verify", str(image), "--public-key", str(public), "--signature",
               str(sig)).returncode == 0
    assert cli("verify", str(tampered), "--public-key", str(public), "--signature",
               str(sig)).returncode == 1
    assert ArtifactStore(artifact_root(small_demo)).path_for(sha).is_file()


def test_cli_payload_add_can_sign_as_it_adds(small_demo: Path, tmp_path: Path) -> None:
    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ota_desktop", *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    assert cli("signing-key", "create", "--db", str(small_demo), "--algorithm", "ecdsa-p256",
               stdin="correct horse battery\n").returncode == 0
    image = tmp_path / "x.swu"
    image.write_bytes(b"x" * 4096)
    args = ("payload", "add", "--db", str(small_demo), "--software-type", "main", "--version",
            "2.0", "--hardware-version", "dvt", "--sign", "--json", str(image))
    count = "SELECT count(*) FROM payloads"
    before = Store.open(small_demo).db.execute(count).fetchone()[0]
    wrong = cli(*args, stdin="not the passphrase\n")
    assert wrong.returncode == 2 and "passphrase" in wrong.stderr.lower()
    assert Store.open(small_demo).db.execute(count).fetchone()[0] == before  # nothing stored
    ok = cli(*args, stdin="correct horse battery\n")
    assert ok.returncode == 0, ok.stderr
    assert Store.open(small_demo).db.execute("SELECT count(*) FROM payloads").fetchone()[0] \
        == before + 1
    assert cli("verify", "--db", str(small_demo), str(image)).returncode == 0
