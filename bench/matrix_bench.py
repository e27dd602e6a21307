"""Version-matrix benchmark on the demo fleet (≈981K devices).

    python bench/matrix_bench.py [--db existing-demo.db] [--repeat 15] [--quick]

Prints, from one run on one machine:
- the demo-writing time (unless given a file);
- the bare baseline: ``SELECT current_version, count(*) FROM devices GROUP BY current_version``;
- the matrix of the largest cohort from the maintained group counts (what the window does),
  as a ratio to that baseline;
- the same matrix from a full recount (GROUP BY over devices), as a ratio too;
- the maintained-count matrix of a 1K-device demo, to show the cost does not grow with fleet size.

``--quick`` uses a 1/50 demo and 3 repeats. ``bench/run_all.py`` imports ``measure``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchlib import Figure, write_demo_file

from ota_desktop.matrix import VersionMatrix, compute_matrix
from ota_desktop.store import Store

SECTION = "version matrix"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm the page cache and statement cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def write(path: Path, scale: float) -> float:
    return write_demo_file(path, scale)


@dataclass
class MatrixResult:
    devices: int
    small_devices: int
    repeat: int
    bare_ms: float
    maintained_ms: float
    recount_ms: float
    small_ms: float

    def figures(self) -> list[Figure]:
        sizes = f"{self.devices:,} devices, cohort default / main, median of {self.repeat}"
        base = "bare GROUP BY"
        return [
            Figure(SECTION, "matrix, maintained counts (window)", self.maintained_ms, base,
                   self.bare_ms, "ms", sizes),
            Figure(SECTION, "matrix, full recount", self.recount_ms, base, self.bare_ms,
                   "ms", sizes),
            Figure(SECTION, "matrix, maintained, small demo", self.small_ms,
                   "same on the large demo", self.maintained_ms, "ms",
                   f"{self.small_devices:,} vs {self.devices:,} devices, median of "
                   f"{self.repeat}"),
        ]


def measure(path: Path, small: Path, repeat: int) -> MatrixResult:
    """Time the matrix of the demo at ``path`` (read only) against a bare GROUP BY."""
    store = Store.open(path)
    small_store = Store.open(small)
    try:
        config = store.configuration()

        def bare() -> object:
            return store.db.execute(
                "SELECT current_version, count(*) FROM devices GROUP BY current_version"
            ).fetchall()

        def maintained() -> VersionMatrix:
            c = store.configuration()
            return compute_matrix(c, "default", "main", store.groups("default", "main"))

        def recount() -> VersionMatrix:
            return compute_matrix(config, "default", "main",
                                  store.recount_groups("default", "main"))

        def maintained_small() -> object:
            c = small_store.configuration()
            return compute_matrix(c, "default", "main", small_store.groups("default", "main"))

        assert maintained().to_json() == recount().to_json(), "maintained counts drifted"
        return MatrixResult(
            devices=store.device_count(), small_devices=small_store.device_count(),
            repeat=repeat, bare_ms=median_ms(bare, repeat),
            maintained_ms=median_ms(maintained, repeat), recount_ms=median_ms(recount, repeat),
            small_ms=median_ms(maintained_small, repeat))
    finally:
        store.close()
        small_store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="reuse an existing demo file (skips writing)")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--quick", action="store_true", help="a 1/50 demo, 3 repeats")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 15)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "demo.db"
        written = None if args.db else write(path, 1 / 50 if args.quick else 1.0)
        small = Path(tmp) / "small.db"
        write(small, 1 / 981)
        r = measure(path, small, repeat)

        print(f"fleet: {r.devices:,} devices ({path})")
        if written is not None:
            print(f"demo writing:                       {written:8.1f} s")
        base, m, s = r.bare_ms, r.maintained_ms, r.small_ms
        print(f"baseline bare GROUP BY version:     {base:8.2f} ms   1.00x")
        print(f"matrix, maintained counts (window): {m:8.2f} ms   {m / base:.3f}x baseline")
        print(f"matrix, full recount (GROUP BY):    {r.recount_ms:8.2f} ms   "
              f"{r.recount_ms / base:.3f}x baseline")
        print(f"matrix, maintained, 1K-device demo: {s:8.2f} ms   {s / base:.3f}x baseline"
              f"   ({s / m:.2f}x the 1M matrix)")


if __name__ == "__main__":
    main()
