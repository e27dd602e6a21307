"""Version-matrix benchmark on the demo fleet (≈981K devices).

    python bench/matrix_bench.py [--db existing-demo.db] [--repeat 15]

Prints, from one run on one machine:
- the demo-writing time;
- the bare baseline: ``SELECT current_version, count(*) FROM devices GROUP BY current_version``;
- the matrix of the largest cohort from the maintained group counts (what the window does),
  as a ratio to that baseline;
- the same matrix from a full recount (GROUP BY over devices), as a ratio too;
- the maintained-count matrix of a 1K-device demo, to show the cost does not grow with fleet size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ota_desktop.demo import write_demo  # noqa: E402
from ota_desktop.matrix import compute_matrix  # noqa: E402
from ota_desktop.store import Store  # noqa: E402


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm the page cache and statement cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def write(path: Path, scale: float) -> float:
    start = time.perf_counter()
    store = Store.open(path)
    write_demo(store, scale=scale)
    store.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="reuse an existing demo file (skips writing)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "demo.db"
        written = None if args.db else write(path, 1.0)
        small = Path(tmp) / "small.db"
        write(small, 1 / 981)

        store = Store.open(path)
        config = store.configuration()
        devices = store.device_count()

        def bare() -> object:
            return store.db.execute(
                "SELECT current_version, count(*) FROM devices GROUP BY current_version"
            ).fetchall()

        def maintained() -> object:
            c = store.configuration()
            return compute_matrix(c, "default", "main", store.groups("default", "main"))

        def recount() -> object:
            return compute_matrix(config, "default", "main",
                                  store.recount_groups("default", "main"))

        small_store = Store.open(small)

        def maintained_small() -> object:
            c = small_store.configuration()
            return compute_matrix(c, "default", "main", small_store.groups("default", "main"))

        assert maintained().to_json() == recount().to_json(), "maintained counts drifted"
        base = median_ms(bare, args.repeat)
        m = median_ms(maintained, args.repeat)
        r = median_ms(recount, args.repeat)
        s = median_ms(maintained_small, args.repeat)

        print(f"fleet: {devices:,} devices ({path})")
        if written is not None:
            print(f"demo writing:                       {written:8.1f} s")
        print(f"baseline bare GROUP BY version:     {base:8.2f} ms   1.00x")
        print(f"matrix, maintained counts (window): {m:8.2f} ms   {m / base:.3f}x baseline")
        print(f"matrix, full recount (GROUP BY):    {r:8.2f} ms   {r / base:.3f}x baseline")
        print(f"matrix, maintained, 1K-device demo: {s:8.2f} ms   {s / base:.3f}x baseline"
              f"   ({s / m:.2f}x the 1M matrix)")


if __name__ == "__main__":
    main()
