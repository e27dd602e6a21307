"""Artifact-download benchmark: a payload file fetched through ``ota-desktop serve``'s artifact
URL against a plain ``shutil.copyfile`` of the same stored file, in the same run.

    python bench/download_bench.py [--mb 100] [--repeat 3] [--quick]

The payload is random bytes (so no compressed variant applies; the client asks for identity
anyway), added with ``ota-desktop payload add`` to a small demo project. Both sides write to a
file in the same temp folder with the source in the page cache; each figure is the median of
``--repeat`` runs after one warm-up. The client is curl when installed, else httpx streaming.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from benchlib import Figure, free_port, serve_ours, stop, write_demo_file

from ota_desktop.artifacts import ArtifactStore, artifact_root
from ota_desktop.cli import main as cli

SECTION = "artifact download"
MIB = 1024 * 1024


@dataclass
class DownloadResult:
    size: int
    repeat: int
    client: str
    download_s: float
    copy_s: float

    @property
    def mb(self) -> float:
        return self.size / MIB

    def figures(self) -> list[Figure]:
        return [Figure(SECTION, "artifact download throughput", self.mb / self.download_s,
                       "shutil.copyfile", self.mb / self.copy_s, "MiB/s",
                       f"{self.mb:.0f} MiB random payload via ota-desktop serve on loopback "
                       f"({self.client}, to a file), median of {self.repeat}",
                       higher_is_better=True)]


def random_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = min(left, 4 * MIB)
            out.write(os.urandom(chunk))
            left -= chunk


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def add_payload(db: Path, source: Path) -> tuple[str, str]:
    """A release 3.0 with ``source`` as its payload, through the CLI; returns (artifact URL
    path, sha256)."""
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        assert cli(["release", "create", "--db", str(db), "--software-type", "main",
                    "--version", "3.0"]) == 0
        quiet.truncate(0)
        quiet.seek(0)
        assert cli(["payload", "add", "--db", str(db), "--software-type", "main",
                    "--version", "3.0", "--hardware-version", "evt", str(source),
                    "--json"]) == 0
    info = json.loads(quiet.getvalue())
    return f"/api/v0/artifacts/{info['id']}/{info['filename']}", str(info["sha256"])


def median_s(fn: Callable[[], None], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(mb: int, repeat: int) -> DownloadResult:
    with tempfile.TemporaryDirectory(prefix="ota-download-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "project.db"
        write_demo_file(db, 0.001)
        source = tmp / "main-3.0.swu"
        size = mb * MIB
        random_file(source, size)
        url_path, digest = add_payload(db, source)
        stored = ArtifactStore(artifact_root(db)).path_for(digest)
        source.unlink()  # the stored file is the one both sides read
        target = tmp / "out.bin"
        curl = shutil.which("curl")

        def copy() -> None:
            target.unlink(missing_ok=True)
            shutil.copyfile(stored, target)

        copy_s = median_s(copy, repeat)

        port = free_port()
        proc = serve_ours(db, port, log=tmp / "server.log")
        url = f"http://127.0.0.1:{port}{url_path}"
        try:
            if curl:
                def download() -> None:
                    target.unlink(missing_ok=True)
                    subprocess.run([curl, "-sS", "--fail", "-H", "Accept-Encoding: identity",
                                    "-o", str(target), url], check=True)
            else:
                client = httpx.Client(headers={"accept-encoding": "identity"}, timeout=60)

                def download() -> None:
                    target.unlink(missing_ok=True)
                    with client.stream("GET", url) as r, open(target, "wb") as out:
                        r.raise_for_status()
                        for chunk in r.iter_raw(MIB):
                            out.write(chunk)

            download_s = median_s(download, repeat)
        finally:
            stop(proc)
        if target.stat().st_size != size or sha256(target) != digest:
            raise RuntimeError("the downloaded file differs from the payload")
        return DownloadResult(size, repeat, "curl" if curl else "httpx", download_s, copy_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, help="payload size in MiB (default 100)")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--quick", action="store_true", help="8 MiB, 1 repeat")
    args = parser.parse_args()
    r = measure(args.mb or (8 if args.quick else 100), args.repeat or (1 if args.quick else 3))
    print(f"payload: {r.mb:.0f} MiB, client {r.client}, median of {r.repeat}")
    print(f"baseline shutil.copyfile:  {r.copy_s * 1000:8.1f} ms  {r.mb / r.copy_s:8.0f} MiB/s")
    print(f"download via serve:        {r.download_s * 1000:8.1f} ms  "
          f"{r.mb / r.download_s:8.0f} MiB/s  {r.copy_s / r.download_s:.2f}x copy throughput")


if __name__ == "__main__":
    main()
