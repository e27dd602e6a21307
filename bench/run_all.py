"""Every benchmark in one run, each figure as a ratio against a baseline measured in the same
run (so a busy or slow machine moves both sides).

    python bench/run_all.py [--quick] [--json] [--no-cache] [--only matrix,ddi,...]

Sections (each is also a script of its own in bench/):
  matrix    version matrix on the demo vs a bare GROUP BY            (matrix_bench.py)
  ddi       hawkBit DDI base poll vs goosebit and a bare Starlette app (ddi_poll.py)
  download  artifact download through the server vs shutil.copyfile  (download_bench.py)
  sync      event-loop stall during a sync (on qasync/Qt) vs idle     (sync_bench.py)
  startup   cold start to first matrix paint vs a bare Qt window      (startup_bench.py)

The ≈981K-device demo is written once and cached (``~/.cache/ota-desktop-bench``, or
``$OTA_BENCH_CACHE``) under a hash of the code that writes it. goosebit is compared only when
``bash bench/setup_goosebit.sh`` has been run once. ``--quick`` shrinks every size for a
trial run; its figures are not the ones to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchlib import (
    ROOT,
    Figure,
    cached_demo,
    free_port,
    print_json,
    print_table,
    write_demo_file,
)

SECTIONS = ("matrix", "ddi", "download", "sync", "startup")


@dataclass(frozen=True)
class Sizes:
    demo_scale: float
    matrix_repeat: int
    ddi_devices: int
    ddi_seconds: float
    download_mb: int
    download_repeat: int
    startup_repeat: int


FULL = Sizes(1.0, 15, 5_000, 10, 100, 3, 3)
QUICK = Sizes(1 / 50, 3, 500, 3, 8, 1, 1)

_started = time.monotonic()


def log(message: str) -> None:
    """Progress goes to stderr, so ``--json`` output stays clean."""
    print(f"[{time.monotonic() - _started:6.1f} s] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "ota_desktop"],
                           capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"commit {head}{' (+ local changes)' if dirty else ''}, Python "
            f"{platform.python_version()}, {os.cpu_count()} cores, load average {load}")


def run(sizes: Sizes, sections: list[str], use_cache: bool, client: str
        ) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    notes: list[str] = []
    demo: Path | None = None

    def the_demo() -> Path:
        nonlocal demo
        if demo is None:
            demo, note = cached_demo(sizes.demo_scale, use_cache, log=log)
            notes.append(note)
        return demo

    def section(name: str, body: Callable[[], list[Figure]]) -> None:
        if name not in sections:
            return
        log(f"{name}…")
        try:
            figures.extend(body())
        except Exception as exc:  # one broken section still leaves the others' figures
            notes.append(f"{name}: FAILED — {type(exc).__name__}: {exc}")
            log(f"{name} failed: {exc}")

    def matrix() -> list[Figure]:
        import matrix_bench

        with tempfile.TemporaryDirectory(prefix="ota-matrix-") as tmp:
            small = Path(tmp) / "small.db"
            write_demo_file(small, 1 / 981)
            return matrix_bench.measure(the_demo(), small, sizes.matrix_repeat).figures()

    def ddi() -> list[Figure]:
        import ddi_poll

        r = ddi_poll.measure(sizes.ddi_devices, sizes.ddi_seconds, client=client, log=log)
        if r.goosebit_skipped:
            notes.append(f"ddi: goosebit figures skipped: {r.goosebit_skipped}")
        else:
            notes.append(f"ddi: goosebit's {r.devices:,} devices were registered (configData) "
                         f"in {r.goosebit_register_s:.0f} s before its run")
        bad = {name: p.non2xx for name, p in r.results.items() if p.non2xx}
        if bad:
            notes.append(f"ddi: failed or non-2xx responses: {bad}")
        return r.figures()

    def download() -> list[Figure]:
        import download_bench

        return download_bench.measure(sizes.download_mb, sizes.download_repeat).figures()

    def sync() -> list[Figure]:
        # a child process: the Qt loop's process can die at exit (see sync_figures)
        return sync_figures(the_demo(), notes)

    def startup() -> list[Figure]:
        import startup_bench

        return startup_bench.measure(the_demo(), sizes.startup_repeat).figures()

    for name, body in (("matrix", matrix), ("ddi", ddi), ("download", download),
                       ("sync", sync), ("startup", startup)):
        section(name, body)
    return figures, notes


def sync_figures(demo: Path, notes: list[str]) -> list[Figure]:
    """sync_bench on the window's qasync loop, in its own process. With PySide6 6.12.0 on
    Python 3.11 that process may abort at exit once it has printed its figures ("Fatal Python
    error: none_dealloc" or "bool_dealloc": timer events dispatched into Python overrides,
    which qasync runs every callback on, drop references to None); the figures still count,
    and the abort is reported."""
    import sync_bench

    done = subprocess.run([sys.executable, str(ROOT / "bench" / "sync_bench.py"), "--qt",
                           "--json", "--server-db", str(demo), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"sync_bench.py printed no figures (exit {done.returncode}): "
                           f"{done.stderr.strip()[-1500:]}")
    if done.returncode != 0:
        fatal = [line for line in done.stderr.splitlines() if "Fatal Python error" in line]
        notes.append(f"sync: the qasync process exited with {done.returncode} after printing "
                     f"its figures ({fatal[0] if fatal else done.stderr.strip()[-300:]})")
    return sync_bench.SyncResult(**json.loads(lines[-1])).figures()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a trial run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--no-cache", action="store_true",
                        help="write a fresh demo instead of reusing the cached one")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default: all: {','.join(SECTIONS)})")
    parser.add_argument("--client", choices=("auto", "wrk", "aiohttp"), default="auto",
                        help="the DDI load client (auto: wrk when installed)")
    args = parser.parse_args()
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    before = machine()
    figures, notes = run(sizes, sections, not args.no_cache, args.client)
    elapsed = time.monotonic() - started
    notes = [f"{'QUICK sizes (not for quoting); ' if args.quick else ''}{before}", *notes,
             f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
             f"the whole run took {elapsed:.0f} s"]
    if args.json:
        print_json(figures, notes)
    else:
        print_table(figures, notes)
    return 1 if any("FAILED" in n for n in notes) else 0


if __name__ == "__main__":
    sys.exit(main())
