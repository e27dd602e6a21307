"""The signed bundle file: a tar stream of members, then ``manifest.json`` (every member's
name, size and sha256, plus who made the bundle and for whom), then ``manifest.sig``.

The manifest comes last so a bundle streams out in one pass, and so a truncated file is one
without a manifest. Reading verifies everything before anything is used: members are copied
to a work folder while they are hashed, the signature is checked against a key the caller
trusts, and the members must be exactly the ones the signed manifest lists.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization

from ota_desktop import signing
from ota_desktop.errors import BadInput

FORMAT = "ota-desktop-bundle/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
CHUNK = 1024 * 1024
MAX_MANIFEST = 64 * 1024 * 1024
_MEMBER = re.compile(r"(configuration\.json|devices\.jsonl|artifacts/[0-9a-f]{64}"
                     r"|checkins/[a-z]+\.jsonl)")
Progress = Callable[[int, int], None]


class BundleRefused(BadInput):
    """A bundle that is not taken; nothing of it was used."""


class NeedsTrust(BundleRefused):
    """A first bundle from a signer this file does not know: the user compares the
    fingerprint with the one shown where the bundle was made, then imports trusting it."""

    def __init__(self, message: str, signer: str, fingerprint: str) -> None:
        super().__init__(message)
        self.signer = signer  # "project demo" or "station line 3"
        self.fingerprint = fingerprint


def fingerprint(public_pem: str) -> str:
    """A key's fingerprint: sha256 of its public key (DER), in groups of four hex digits."""
    der = signing.load_public(public_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, 64, 4))


def same_fingerprint(given: str, expected: str) -> bool:
    def norm(text: str) -> str:
        return re.sub(r"[\s:]", "", text.lower()).removeprefix("sha256")

    return len(norm(given)) == 64 and norm(given) == norm(expected)


class _Hashing:
    """A file reader that hashes and counts what passes through it."""

    def __init__(self, f: IO[bytes], on_read: Callable[[int], None] | None = None) -> None:
        self.f = f
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.on_read = on_read

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha256.update(data)
        self.size += len(data)
        if self.on_read and data:
            self.on_read(len(data))
        return data


class BundleWriter:
    """Writes ``<path>.part`` and renames it to ``path`` only once signed; leaving the
    ``with`` block by an exception removes the partial file."""

    def __init__(self, path: Path, total: int = 0, progress: Progress | None = None) -> None:
        if path.is_dir():
            raise BadInput(f"{path} is a folder; name the bundle file to write.")
        if not path.parent.is_dir():
            raise BadInput(f"The folder {path.parent} does not exist.")
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.total = total
        self.done = 0
        self.progress = progress
        self.members: list[dict[str, Any]] = []
        self._file = open(self.part, "wb")  # noqa: SIM115 - closed in finish/__exit__
        self._tar = tarfile.open(  # noqa: SIM115 - closed in finish/__exit__
            fileobj=self._file, mode="w|", format=tarfile.PAX_FORMAT)

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is not None:
            self._tar.close()
            self._file.close()
            self.part.unlink(missing_ok=True)

    def _advance(self, n: int) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, max(self.total, self.done))

    def _add(self, name: str, size: int, f: IO[bytes]) -> _Hashing:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(time.time()), 0o644
        reader = _Hashing(f, self._advance)
        self._tar.addfile(info, reader)
        return reader

    def add_bytes(self, name: str, data: bytes) -> None:
        reader = self._add(name, len(data), io.BytesIO(data))
        self.members.append({"name": name, "size": len(data),
                             "sha256": reader.sha256.hexdigest()})

    def add_file(self, name: str, source: Path, expect_sha256: str | None = None) -> None:
        """Stream a file in; with ``expect_sha256`` a file that changed on disk is refused
        rather than signed."""
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            reader = self._add(name, size, f)
        digest = reader.sha256.hexdigest()
        if reader.size != size or (expect_sha256 and digest != expect_sha256):
            raise BadInput(f"{source} does not match its recorded sha256 (it changed on disk "
                           "or is damaged); no bundle was written.")
        self.members.append({"name": name, "size": size, "sha256": digest})

    def finish(self, manifest: dict[str, Any], key: signing.PrivateKey) -> dict[str, Any]:
        """Write the manifest (with the member list) and its signature; returns the
        manifest as written."""
        manifest = {"format": FORMAT, **manifest, "members": self.members}
        data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
        signature = signing.sign(key, hashlib.sha256(data).hexdigest()).encode("ascii")
        for name, body in ((MANIFEST, data), (SIGNATURE, signature)):
            self._add(name, len(body), io.BytesIO(body))
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.part, self.path)
        return manifest


@dataclass
class VerifiedBundle:
    """A bundle whose signature and hashes were checked; its members sit in ``workdir``."""

    manifest: dict[str, Any]
    workdir: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    def lines(self, name: str) -> Any:
        """The JSON values of a ``.jsonl`` member, one per line (none if it is absent)."""
        path = self.files.get(name)
        if path is None:
            return
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)

    def json(self, name: str) -> Any:
        path = self.files.get(name)
        if path is None:
            raise BundleRefused(f"The bundle has no {name}.")
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


KeyFor = Callable[[dict[str, Any]], signing.PublicKey]


def read_bundle(path: Path, workdir_in: Path, key_for: KeyFor,
                progress: Progress | None = None) -> VerifiedBundle:
    """Copy out and verify every member of ``path``. ``key_for`` picks the key the
    signature must verify with (from the manifest's unverified header) or refuses."""
    if not path.is_file():
        raise BundleRefused(f"{path} is not a readable file.")
    total = path.stat().st_size
    workdir_in.mkdir(parents=True, exist_ok=True)
    bundle = VerifiedBundle({}, Path(tempfile.mkdtemp(prefix=".bundle-", dir=workdir_in)))
    try:
        _read_into(bundle, path, total, key_for, progress)
    except BaseException:
        bundle.cleanup()
        raise
    return bundle


def _read_into(bundle: VerifiedBundle, path: Path, total: int, key_for: KeyFor,
               progress: Progress | None) -> None:
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    seen: dict[str, dict[str, Any]] = {}
    ends: list[int] = []  # where each member's data ends: what follows must be zeros
    manifest_bytes: bytes | None = None
    signature: bytes | None = None
    with open(path, "rb") as raw:
        reader = _Hashing(raw, advance)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    if signature is not None:
                        raise BundleRefused(f"{path.name} holds data after its signature.")
                    name = member.name
                    if not member.isreg():
                        raise BundleRefused(f"{path.name} holds {name!r}, which is not a file.")
                    source = tar.extractfile(member)
                    ends.append(member.offset_data + member.size)
                    if name in (MANIFEST, SIGNATURE):
                        if member.size > MAX_MANIFEST:
                            raise BundleRefused(f"{path.name}'s {name} is too large.")
                        body = source.read()
                        if name == MANIFEST:
                            manifest_bytes = body
                        elif manifest_bytes is None:
                            raise BundleRefused(f"{path.name} is signed before its manifest.")
                        else:
                            signature = body
                        continue
                    if manifest_bytes is not None:
                        raise BundleRefused(f"{path.name} holds {name!r} after its manifest.")
                    if not _MEMBER.fullmatch(name) or name in seen:
                        raise BundleRefused(f"{path.name} holds an unexpected member {name!r}.")
                    seen[name] = _copy_out(source, bundle.workdir / f"m{len(seen)}")
                    bundle.files[name] = bundle.workdir / f"m{len(seen) - 1}"
        except tarfile.TarError as exc:
            raise BundleRefused(f"{path.name} is not a bundle, or it is damaged or truncated "
                                f"({exc}).") from exc
        except (EOFError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise
            raise BundleRefused(f"{path.name} ends early: it is truncated or damaged.") from exc
        if not _only_zeros_between(raw, ends, total):
            raise BundleRefused(f"{path.name} was changed outside its signed content (a "
                                "padding byte is not zero): it is damaged or tampered with.")
    if manifest_bytes is None or signature is None:
        raise BundleRefused(f"{path.name} has no signed manifest at its end: it is truncated, "
                            "or not an OTA Desktop bundle.")
    if progress:
        progress(total, total)
    # damage first (a clear reason even before trust is settled), then the signature
    manifest = _parse_manifest(manifest_bytes, path.name)
    listed = {m["name"]: m for m in manifest["members"]}
    if set(listed) != set(seen):
        missing, extra = sorted(set(listed) - set(seen)), sorted(set(seen) - set(listed))
        raise BundleRefused(f"{path.name}'s members differ from its signed manifest "
                            f"(missing {missing or 'none'}, unlisted {extra or 'none'}).")
    for name, got in seen.items():
        if (got["size"], got["sha256"]) != (listed[name]["size"], listed[name]["sha256"]):
            raise BundleRefused(f"{path.name}: {name} does not match its signed manifest "
                                "(changed after signing).")
    key = key_for(manifest)
    if not signing.verify(key, hashlib.sha256(manifest_bytes).hexdigest(),
                          signature.decode("ascii", "replace")):
        raise BundleRefused(f"{path.name}'s signature does not verify: it was changed after "
                            "it was signed, or signed by a key this project does not trust.")
    bundle.manifest = manifest


def _only_zeros_between(raw: IO[bytes], ends: list[int], total: int) -> bool:
    """Tar pads each member to 512 bytes and ends with zero blocks; nothing there is signed,
    so any byte in it that is not zero means the file was altered."""
    for i, end in enumerate(ends):
        stop = -(-end // 512) * 512 if i + 1 < len(ends) else total
        raw.seek(end)
        while end < stop:
            chunk = raw.read(min(CHUNK, stop - end))
            if not chunk:
                break
            if chunk.count(0) != len(chunk):
                return False
            end += len(chunk)
    return True


def _copy_out(source: IO[bytes] | None, target: Path) -> dict[str, Any]:
    assert source is not None
    reader = _Hashing(source)
    with open(target, "wb") as out:
        while chunk := reader.read(CHUNK):
            out.write(chunk)
    return {"size": reader.size, "sha256": reader.sha256.hexdigest()}


def _parse_manifest(data: bytes, name: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleRefused(f"{name}'s manifest is not JSON: it is damaged.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleRefused(f"{name} is not an {FORMAT} bundle.")
    members = manifest.get("members")
    ok = isinstance(members, list) and all(
        isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("size"), int)
        and isinstance(m.get("sha256"), str) for m in members)
    signer = manifest.get("signer")
    if not ok or not isinstance(signer, dict) or not isinstance(signer.get("public_pem"), str) \
            or manifest.get("kind") not in ("releases", "checkins") \
            or not isinstance(manifest.get("seq"), int) or not isinstance(
                manifest.get("project"), dict):
        raise BundleRefused(f"{name}'s manifest is incomplete: it is damaged.")
    return manifest
