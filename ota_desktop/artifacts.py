"""The project's artifact folder: payload files stored by content (sha256), hashed in one
streaming pass so a multi-GB image never sits in memory."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ota_desktop.errors import BadInput

CHUNK = 1024 * 1024
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class StoredArtifact:
    filename: str
    size: int
    sha256: str
    sha1: str
    md5: str
    path: Path


def artifact_root(db_path: Path) -> Path:
    """Artifacts live beside the project file: ``fleet.db`` → ``fleet.artifacts/``."""
    return db_path.with_suffix(".artifacts")


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise BadInput("An artifact is named by its sha256 (64 hex digits).")
        return self.root / sha256[:2] / sha256

    def add_file(self, source: Path, progress: Progress | None = None,
                 cancelled: Callable[[], bool] | None = None) -> StoredArtifact:
        if not source.is_file():
            raise BadInput(f"{source} is not a readable file.")
        total = source.stat().st_size
        self.root.mkdir(parents=True, exist_ok=True)
        digests = (hashlib.sha256(), hashlib.sha1(), hashlib.md5())
        done = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        tmp = Path(tmp_name)
        try:
            with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    for d in digests:
                        d.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
                    if cancelled and cancelled():
                        raise BadInput("Adding the payload was cancelled.")
            sha256, sha1, md5 = (d.hexdigest() for d in digests)
            target = self.path_for(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                tmp.unlink()
            else:
                shutil.move(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredArtifact(source.name, done, sha256, sha1, md5, target)
