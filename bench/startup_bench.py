"""Cold-start benchmark: a fresh process opening the window (offscreen) on the demo until the
version matrix is first painted with data, against a fresh process that shows a bare Qt
window until its first paint, and against one that only imports the window's package.

    python bench/startup_bench.py [--db demo.db] [--repeat 3] [--quick]

The window reports its first matrix paint through ``OTA_DESKTOP_EXIT_AFTER_FIRST_PAINT=1``
(ota_desktop/gui/first_paint.py) and closes; the bare window prints the same marker from the
same kind of event filter, the import-only process once its import is done. Times run from
just before the process is spawned to the marker's wall-clock time; "cold" means a new
interpreter, with files in the page cache. Each run gets empty settings and data folders, so
no earlier project or window geometry is restored.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import ROOT, Figure, write_demo_file

from ota_desktop.gui.first_paint import ENV, MARKER
from ota_desktop.store import Store

SECTION = "cold start"

BARE_WINDOW = textwrap.dedent(f"""
    import sys, time
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QLabel

    class Probe(QObject):
        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint:
                watched.removeEventFilter(self)
                QTimer.singleShot(0, done)
            return False

    def done():
        print("{MARKER}", f"{{time.time():.6f}}", flush=True)
        app.quit()

    app = QApplication(sys.argv)
    window = QLabel("first paint")
    window.resize(1180, 520)
    probe = Probe()
    window.installEventFilter(probe)
    window.show()
    app.exec()
""")


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", ENV: "1",
            "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_DATA_HOME": str(tmp / "data"),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def time_to_marker(cmd: list[str], tmp: Path) -> float:
    """Seconds from spawning ``cmd`` to the wall-clock time it printed with the marker."""
    shutil.rmtree(tmp / "config", ignore_errors=True)
    start = time.time()
    done = subprocess.run(cmd, env=_env(tmp), cwd=tmp, capture_output=True, text=True,
                          timeout=300)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return float(line.split()[1]) - start
    raise RuntimeError(f"{cmd[1:3]} printed no {MARKER!r} (exit {done.returncode}):\n"
                       f"{done.stderr[-2000:]}")


@dataclass
class StartupResult:
    devices: int
    repeat: int
    window_s: float
    bare_s: float
    import_s: float

    def figures(self) -> list[Figure]:
        sizes = (f"fresh process, offscreen, {self.devices:,}-device demo, median of "
                 f"{self.repeat}")
        return [
            Figure(SECTION, "cold start to first matrix paint", self.window_s,
                   "bare Qt window's first paint", self.bare_s, "s", sizes),
            Figure(SECTION, "cold start to first matrix paint", self.window_s,
                   "python -c 'import ota_desktop.gui.main_window'", self.import_s, "s",
                   sizes),
        ]


def measure(db: Path, repeat: int) -> StartupResult:
    """Open a scratch copy of ``db`` (a window may write to its project) ``repeat`` times."""
    with tempfile.TemporaryDirectory(prefix="ota-startup-") as tmp_name:
        tmp = Path(tmp_name)
        project = tmp / "project.db"
        shutil.copyfile(db, project)
        store = Store.open(project)
        devices = store.device_count()
        store.close()
        py = sys.executable
        window = [py, "-m", "ota_desktop", "gui", "--db", str(project)]
        bare = [py, "-c", BARE_WINDOW]
        imports = [py, "-c", "import time, ota_desktop.gui.main_window; "
                             f"print('{MARKER}', f'{{time.time():.6f}}')"]
        for cmd in (window, bare, imports):  # warm-up: page cache, .pyc files, fontconfig
            time_to_marker(cmd, tmp)
        runs: dict[str, list[float]] = {"window": [], "bare": [], "import": []}
        for _ in range(repeat):  # interleaved, so a busy moment hits all three alike
            runs["window"].append(time_to_marker(window, tmp))
            runs["bare"].append(time_to_marker(bare, tmp))
            runs["import"].append(time_to_marker(imports, tmp))
    return StartupResult(devices, repeat, statistics.median(runs["window"]),
                         statistics.median(runs["bare"]), statistics.median(runs["import"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a demo file (else one is written)")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--quick", action="store_true", help="a 1/50 demo, 1 run")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
        if db is None:
            db = Path(tmp) / "demo.db"
            write_demo_file(db, 1 / 50 if args.quick else 1.0)
        r = measure(db, repeat)
    print(f"{r.devices:,}-device demo, fresh process each, offscreen, median of {r.repeat}")
    print(f"baseline import ota_desktop.gui.main_window: {r.import_s:6.2f} s")
    print(f"baseline bare Qt window, first paint:       {r.bare_s:6.2f} s")
    print(f"window, first matrix paint:                 {r.window_s:6.2f} s   "
          f"{r.window_s / r.bare_s:.1f}x bare window, {r.window_s / r.import_s:.1f}x import")


if __name__ == "__main__":
    main()
