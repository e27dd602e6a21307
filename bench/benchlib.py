"""What the benchmarks share: a figure with its same-run baseline, the cached demo file,
loopback ports and server processes."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ota_desktop.demo import DEMO_DEVICE_COUNT, write_demo  # noqa: E402
from ota_desktop.store import Store  # noqa: E402

#: the parts of the package that do not decide what a demo file holds
_NOT_DEMO_SOURCES = ("ota_desktop/gui/", "ota_desktop/server/", "ota_desktop/cli")


@dataclass
class Figure:
    """One measured value and the baseline measured beside it in the same run."""

    section: str
    name: str
    value: float
    baseline_name: str
    baseline: float
    unit: str
    sizes: str
    #: throughput-like figures are better higher, times and latencies lower
    higher_is_better: bool = False

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


def format_value(value: float, unit: str) -> str:
    if value != value:  # nan
        return "n/a"
    digits = 0 if abs(value) >= 1000 else 1 if abs(value) >= 100 else 2
    return f"{value:,.{digits}f} {unit}"


def print_table(figures: Sequence[Figure], notes: Sequence[str] = ()) -> None:
    """A plain text table; the sizes behind the figures on the line below them."""
    rows = [(f.name, format_value(f.value, f.unit),
             f"{f.baseline_name} {format_value(f.baseline, f.unit)}", f"{f.ratio:.3g}x",
             "higher is better" if f.higher_is_better else "lower is better") for f in figures]
    head = ("figure", "value", "baseline (same run)", "ratio", "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]

    def line(r: tuple[str, ...]) -> str:
        return (f"{r[0].ljust(widths[0])}  {r[1].rjust(widths[1])}  {r[2].ljust(widths[2])}  "
                f"{r[3].rjust(widths[3])}  {r[4]}").rstrip()

    print(line(head))
    print("-" * max(len(line(r)) for r in [head, *rows]))
    section = None
    for i, (f, r) in enumerate(zip(figures, rows, strict=True)):
        if f.section != section:
            section = f.section
            print(f"[{section}]")
        print(line(r))
        following = figures[i + 1] if i + 1 < len(figures) else None
        if following is None or following.sizes != f.sizes or following.section != section:
            print(f"    ({f.sizes})")
    for note in notes:
        print(f"- {note}")


def print_json(figures: Sequence[Figure], notes: Sequence[str] = ()) -> None:
    print(json.dumps({"figures": [f.to_json() for f in figures], "notes": list(notes)},
                     indent=2))


# --- the demo file -----------------------------------------------------------------------

def cache_dir() -> Path:
    base = os.environ.get("OTA_BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "ota-desktop-bench")
    return Path(base)


def code_key() -> str:
    """A hash of the source files that write a demo: a cached file is reused only while they
    are unchanged."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "ota_desktop").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(_NOT_DEMO_SOURCES):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def write_demo_file(path: Path, scale: float) -> float:
    """Write the demo at ``scale`` into ``path`` (one file, no WAL left); returns seconds."""
    start = time.perf_counter()
    store = Store.open(path)
    write_demo(store, scale=scale)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return time.perf_counter() - start


def cached_demo(scale: float, use_cache: bool = True,
                log: Callable[[str], None] = print) -> tuple[Path, str]:
    """A pristine demo file at ``scale`` and a sentence saying where it came from. Callers that
    change it (a server recording check-ins, a sync) work on a copy."""
    tag = "full" if scale == 1 else f"scale{scale:g}"
    key = code_key()
    folder = cache_dir()
    path = folder / f"demo-{tag}-{key}.db"
    if use_cache and path.exists():
        return path, f"demo ({tag}): reused {path} (cached by an earlier run of this code, " \
                     f"key {key})"
    folder.mkdir(parents=True, exist_ok=True)
    if not use_cache:
        path = folder / f"demo-{tag}-{key}-nocache-{os.getpid()}.db"
    part = path.with_name(path.stem + "-part.db")
    for stale in (part, *(Path(f"{part}{s}") for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    log(f"writing the demo ({tag}, ~{int(DEMO_DEVICE_COUNT * scale):,} devices)…")
    seconds = write_demo_file(part, scale)
    os.replace(part, path)
    if use_cache:  # earlier versions' files of this size are of no use any more
        for old in folder.glob(f"demo-{tag}-*.db"):
            if old != path and "-part" not in old.name:
                old.unlink(missing_ok=True)
        return path, f"demo ({tag}): written in {seconds:.1f} s and cached at {path} " \
                     f"(key {key}) for the next run"
    return path, f"demo ({tag}): written in {seconds:.1f} s (not cached)"


# --- processes on loopback ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None,
              timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {proc.returncode} "
                               "before it listened")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def start_server(cmd: list[str], port: int, env: dict[str, str] | None = None,
                 cwd: Path | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a server process and wait until it listens on ``port`` (stderr to ``log``)."""
    err = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, **(env or {})}, cwd=cwd)
    finally:
        if log is not None:
            err.close()  # type: ignore[union-attr]  # the child keeps its own descriptor
    try:
        wait_port(port, proc)
    except RuntimeError:
        stop(proc)
        raise
    return proc


def serve_ours(db: Path, port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    """``ota-desktop serve`` as its own process: one uvicorn worker, access log off."""
    return start_server([sys.executable, "-m", "ota_desktop", "serve", "--db", str(db),
                         "--port", str(port)], port, cwd=ROOT, log=log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
