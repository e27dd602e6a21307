"""The signed bundle file: a tar stream of members, then ``manifest.json`` (every member's
name, size and sha256, plus who made the bundle and for whom), then ``manifest.sig``.

The manifest comes last so a bundle streams out in one pass, and so a truncated file is one
without a manifest. The tar layout is canonical (plain ustar headers that depend only on each
member's name and size, zero padding, the standard end blocks), so every byte of a bundle
follows from its signed content. Reading verifies everything before anything is used: members
are copied to a work folder while they are hashed (never more bytes than the file holds), the
layout must be the canonical one, the members exactly the signed manifest's, and the
signature must verify with a key the caller trusts.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization

from ota_desktop import signing
from ota_desktop.errors import BadInput, StoreError
from ota_desktop.service.base import utc_now

FORMAT = "ota-desktop-bundle/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
CHUNK = 1024 * 1024
MAX_MANIFEST = 1024 * 1024  # a manifest lists members: a few KB, thousands of payloads fit
BLOCK = tarfile.BLOCKSIZE
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


def _norm(text: str) -> str:
    return re.sub(r"[\s:]", "", text.lower()).removeprefix("sha256")


def check_fingerprint(given: str) -> None:
    """A fingerprint to trust is the whole one, not a prefix or a line around it."""
    if not re.fullmatch(r"[0-9a-f]{64}", _norm(given)):
        raise BadInput("A fingerprint to trust is all 64 hex digits as 'bundle keys' shows "
                       "them (spaces and colons may stay), nothing more or less.")


def same_fingerprint(given: str, expected: str) -> bool:
    return _norm(given) == _norm(expected)


def check_target(project: Path | None, target: Path) -> None:
    """A bundle is never written over the project it comes from (its file, its journal or
    its artifacts) nor over another SQLite file."""
    if project is not None:
        resolved = target.resolve()
        own = {Path(f"{project}{suffix}").resolve() for suffix in ("", "-wal", "-shm")}
        artifacts = project.with_suffix(".artifacts").resolve()
        if resolved in own or resolved.is_relative_to(artifacts):
            raise BadInput(f"{target} is part of this project; write the bundle elsewhere.")
    if target.is_file():
        with open(target, "rb") as f:
            if f.read(16) == b"SQLite format 3\0":
                raise BadInput(f"{target} is a database; a bundle does not replace it.")


def allocate_seq(store: Any, kind: str) -> int:
    """The next bundle number, committed before the bundle is signed: a crash after signing
    can then never leave a signed bundle whose number is handed out again."""
    with store.writing():
        return int(store.db.execute("INSERT INTO bundle_exports (kind, at) VALUES (?, ?) "
                                    "RETURNING id", [kind, utc_now()]).fetchone()[0])


def record_export(store: Any, seq: int, summary: dict[str, Any]) -> None:
    with store.writing():
        store.db.execute("UPDATE bundle_exports SET summary = ? WHERE id = ?",
                         [json.dumps(summary), seq])


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


def _header(name: str, size: int) -> tarfile.TarInfo:
    """The one header a member may have: it follows from its name and size alone."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    return info


def _round_up(n: int, block: int) -> int:
    return -(-n // block) * block


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
            fileobj=self._file, mode="w|", format=tarfile.USTAR_FORMAT)

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
        reader = _Hashing(f, self._advance)
        info = _header(name, size)
        self._tar.addfile(info, reader)
        return reader

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
        number = 0
        try:
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):  # noqa: B007 - named in the error
                    if line.strip():
                        yield json.loads(line)
        except (ValueError, RecursionError) as exc:  # bad UTF-8 is a ValueError too
            raise BundleRefused(f"The bundle's {name} is not JSON (near line {max(number, 1)})."
                                ) from exc

    def json(self, name: str) -> Any:
        path = self.files.get(name)
        if path is None:
            raise BundleRefused(f"The bundle has no {name}.")
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (ValueError, RecursionError) as exc:
            raise BundleRefused(f"The bundle's {name} is not JSON.") from exc

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
    layout: list[tuple[int, int, str, int]] = []  # (header offset, data offset, name, size)
    bodies: dict[str, bytes] = {}
    copied = 0
    with open(path, "rb") as raw:
        reader = _Hashing(raw, advance)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    name = member.name
                    if SIGNATURE in bodies:
                        raise BundleRefused(f"{path.name} holds data after its signature.")
                    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) \
                            or member.issparse():
                        raise BundleRefused(f"{path.name} holds {name!r}, which is not a "
                                            "plain file.")
                    copied += member.size
                    if copied > total:  # a member can hold no more than the file does
                        raise BundleRefused(f"{path.name} declares more data than it holds.")
                    layout.append((member.offset, member.offset_data, name, member.size))
                    source = tar.extractfile(member)
                    assert source is not None
                    if name in (MANIFEST, SIGNATURE):
                        if member.size > MAX_MANIFEST:
                            raise BundleRefused(f"{path.name}'s {name} is too large.")
                        if (name == SIGNATURE) != (MANIFEST in bodies) or name in bodies:
                            raise BundleRefused(f"{path.name} has its manifest and signature "
                                                "out of order.")
                        bodies[name] = source.read()
                        continue
                    if MANIFEST in bodies:
                        raise BundleRefused(f"{path.name} holds {name!r} after its manifest.")
                    if not _MEMBER.fullmatch(name) or name in seen:
                        raise BundleRefused(f"{path.name} holds an unexpected member {name!r}.")
                    target = bundle.workdir / f"m{len(seen)}"
                    seen[name] = _copy_out(source, target)
                    bundle.files[name] = target
                    if name.startswith("artifacts/") and seen[name]["sha256"] != name[10:]:
                        raise BundleRefused(f"{path.name}: the payload file {name[10:22]}… "
                                            "does not have that sha256.")
        except tarfile.TarError as exc:
            raise BundleRefused(f"{path.name} is not a bundle, or it is damaged or truncated "
                                f"({exc}).") from exc
        except (EOFError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise StoreError(f"Could not unpack {path.name} into {bundle.workdir.parent}: "
                                 f"{exc.strerror or exc}; nothing was imported.") from exc
            raise BundleRefused(f"{path.name} ends early: it is truncated or damaged.") from exc
        if MANIFEST not in bodies or SIGNATURE not in bodies:
            raise BundleRefused(f"{path.name} has no signed manifest at its end: it is "
                                "truncated, or not an OTA Desktop bundle.")
        if not _canonical(raw, layout, total):
            raise BundleRefused(f"{path.name} was changed outside its signed content (its tar "
                                "headers, padding or end): it is damaged or tampered with.")
    if progress:
        progress(total, total)
    # damage first (a clear reason even before trust is settled), then the signature
    manifest_bytes, signature = bodies[MANIFEST], bodies[SIGNATURE]
    manifest = _parse_manifest(manifest_bytes, path.name)
    listed = {m["name"]: m for m in manifest["members"]}
    if set(listed) != set(seen) or len(listed) != len(manifest["members"]):
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


def _canonical(raw: IO[bytes], layout: list[tuple[int, int, str, int]], total: int) -> bool:
    """Whether the file is exactly the writer's encoding of its members: each header the one
    its name and size give, members back to back with zero padding, then the end blocks and
    zeros up to tar's record size. Nothing outside the signed content can then change."""
    expected = 0
    for offset, data_offset, name, size in layout:
        header = _header(name, size).tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "strict")
        raw.seek(offset)
        if offset != expected or data_offset != offset + len(header) \
                or raw.read(len(header)) != header:
            return False
        end = data_offset + size
        expected = _round_up(end, BLOCK)
        if not _zeros(raw, end, expected):
            return False
    return total == _round_up(expected + 2 * BLOCK, tarfile.RECORDSIZE) \
        and _zeros(raw, expected, total)


def _zeros(raw: IO[bytes], start: int, stop: int) -> bool:
    raw.seek(start)
    while start < stop:
        chunk = raw.read(min(CHUNK, stop - start))
        if not chunk or chunk.count(0) != len(chunk):
            return False
        start += len(chunk)
    return True


def _copy_out(source: IO[bytes] | None, target: Path) -> dict[str, Any]:
    assert source is not None
    reader = _Hashing(source)
    with open(target, "wb") as out:
        while chunk := reader.read(CHUNK):
            out.write(chunk)
    return {"size": reader.size, "sha256": reader.sha256.hexdigest()}


def _parse_manifest(data: bytes, name: str) -> dict[str, Any]:
    """The manifest, with every field the importer reads checked for its type (it is not
    trusted yet: the signature is checked after the members are compared with it)."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BundleRefused(f"{name}'s manifest is not JSON: it is damaged.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleRefused(f"{name} is not an {FORMAT} bundle.")

    def text(obj: Any, key: str) -> bool:
        return isinstance(obj, dict) and isinstance(obj.get(key), str) and bool(obj[key])

    members = manifest.get("members")
    seq = manifest.get("seq")
    ok = (isinstance(members, list) and all(
        text(m, "name") and text(m, "sha256") and isinstance(m.get("size"), int)
        and not isinstance(m["size"], bool) for m in members)
        and manifest.get("kind") in ("releases", "checkins")
        and isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq < 2**62
        and text(manifest.get("project"), "id") and text(manifest.get("project"), "slug")
        and text(manifest.get("signer"), "public_pem")
        and isinstance(manifest.get("summary", {}), dict)
        and (manifest["kind"] == "releases" or text(manifest.get("station"), "name")
             and text(manifest.get("station"), "id")))
    if not ok:
        raise BundleRefused(f"{name}'s manifest is incomplete: it is damaged.")
    names = [manifest["project"]["slug"]] + (
        [manifest["station"]["name"]] if manifest["kind"] == "checkins" else [])
    if not all(len(n) <= 64 and n.isprintable() and "<" not in n and ">" not in n
               for n in names):
        raise BundleRefused(f"{name}'s manifest names its project or station with characters "
                            "a name may not hold.")
    try:
        signing.load_public(manifest["signer"]["public_pem"])
    except BadInput as exc:
        raise BundleRefused(f"{name}'s signer key is not a usable public key ({exc})") from exc
    return manifest
