"""``ota-desktop --self-test``: show that a build opens its window, paints the version matrix,
draws text and serves devices, on the machine it runs on.

It writes the demo project at 1/1000 scale into a temporary folder, opens the main window
(offscreen when there is no display), waits for the matrix, grabs it and checks one count the
demo gives, then starts the window's device server on a loopback port and asks it one Latest
Release question. One line per check on stdout; on a failure one sentence on stderr and exit 1.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

#: the demo's 21,000 devices on 0.9 go to the active Full 2.0: 21 of them at this scale
SCALE = 0.001
CELL = ("0.9", "2.0", "21")
DEVICE = {"device_serial": "DEF-09-000000", "hardware_version": "evt",
          "software_type": "main", "current_version": "0.9"}
#: the whole self-test takes about 2 s; past this it is stuck, not slow
DEADLINE_S = 120.0
#: share of the grabbed matrix that is not background (text, marks, grid lines)
MIN_INK = 0.005


class SelfTestFailed(Exception):
    """A check failed; the message is the sentence shown."""


class _Report:
    """Prints a line per check passed and remembers what runs next, for an unexpected error."""

    def __init__(self) -> None:
        self.step = "starting"

    def passed(self, line: str, next_step: str) -> None:
        print(line, flush=True)
        self.step = next_step


def run() -> int:
    started = time.perf_counter()
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    watchdog = threading.Timer(DEADLINE_S, _stuck)
    watchdog.daemon = True
    watchdog.start()
    report = _Report()
    try:
        with tempfile.TemporaryDirectory(prefix="ota-self-test-") as tmp:
            _check(Path(tmp), report)
    except SelfTestFailed as exc:
        print(f"Self-test failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a module or library missing from a build lands here
        print(f"Self-test failed while {report.step}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    finally:
        watchdog.cancel()
    print(f"Self-test passed in {time.perf_counter() - started:.1f} s.")
    return 0


def _stuck() -> None:
    print(f"Self-test failed: no result within {DEADLINE_S:.0f} s.", file=sys.stderr, flush=True)
    os._exit(1)


def _check(tmp: Path, report: _Report) -> None:
    import qasync
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QSettings, qVersion
    from PySide6.QtGui import QGuiApplication

    from ota_desktop import NAME, __version__
    from ota_desktop.demo import write_demo
    from ota_desktop.gui.app import application
    from ota_desktop.gui.main_window import MainWindow
    from ota_desktop.store.store import Store

    app, font = application()
    report.passed(f"{NAME} {__version__} self-test: Qt {qVersion()}, PySide6 {pyside_version}, "
                  f"platform {QGuiApplication.platformName()}", "checking the font")
    if not font.draws_text:
        raise SelfTestFailed("no font here draws letters and digits, so text would show as "
                             "boxes; install one (fonts-dejavu-core) or build with "
                             "resources/fonts/DejaVuSans.ttf bundled.")
    origin = "shipped, the system has none" if font.shipped else "system"
    report.passed(f"  font: {font.family} ({origin})", "writing the demo")
    db = tmp / "demo.db"
    store = Store.open(db)
    write_demo(store, scale=SCALE)
    devices = store.device_count()
    store.close()
    report.passed(f"  demo: {devices:,} devices written to {db}", "opening the window")

    window = MainWindow(settings=QSettings(str(tmp / "settings.ini"),
                                           QSettings.Format.IniFormat))
    window.resize(1180, 520)
    window.show()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            loop.run_until_complete(_check_window(window, db, report))
    finally:
        window.close()


async def _check_window(window, db: Path, report: _Report) -> None:  # type: ignore[no-untyped-def]
    shown: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    window.matrixShown.connect(lambda m: shown.done() or shown.set_result(m))
    window.controller.failed.connect(
        lambda message: shown.done() or shown.set_exception(SelfTestFailed(message)))
    window.open_project(db)
    await shown
    report.passed(_painted(window.matrix_view), "checking a matrix count")
    row, column, expected = CELL
    try:
        text = window.matrix_view.matrix_model.index_of(row, column).data()
    except ValueError:  # no such row or column
        text = None
    if text != expected:
        raise SelfTestFailed(f"the matrix cell {row} → {column} shows {text!r}, but the demo "
                             f"gives {expected!r}.")
    report.passed(f"  matrix: {row} → {column} shows {text} devices, as the demo gives",
                  "serving devices")
    report.passed(await _serve_once(window.device_server, db), "closing the window")


def _painted(view) -> str:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()  # let the layout settle before the grab
    image = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    pixels = Counter(memoryview(bytes(image.constBits())).cast("I"))
    total = image.width() * image.height()
    ink = 1 - pixels.most_common(1)[0][1] / total if total else 0.0
    if ink < MIN_INK:
        raise SelfTestFailed(f"the version matrix was painted blank ({image.width()}×"
                             f"{image.height()} pixels, {len(pixels)} colours).")
    return (f"  painted: version matrix {image.width()}×{image.height()} pixels, "
            f"{len(pixels)} colours, {ink:.1%} not background")


async def _serve_once(server, db: Path) -> str:  # type: ignore[no-untyped-def]
    """Start the window's device server, ask one Latest Release question, stop it."""
    import httpx
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from ota_desktop.demo import PROJECT_KEY

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server.start(db, "127.0.0.1", port)
    url = server.url
    deadline = time.monotonic() + 10
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            while True:
                try:
                    response = await client.get("api/v0/releases/latest", params=DEVICE,
                                                headers={"Memfault-Project-Key": PROJECT_KEY})
                    break
                except httpx.ConnectError as exc:  # uvicorn is still starting
                    if time.monotonic() > deadline:
                        raise SelfTestFailed(f"the device server did not answer on {url} "
                                             f"within 10 s ({exc}).") from exc
                    await asyncio.sleep(0.05)
    finally:
        server.stop()
    if response.status_code != 200 or response.json().get("version") != "2.0":
        raise SelfTestFailed(f"the device server answered {response.status_code} "
                             f"{response.text[:200]!r} where the demo gives version 2.0.")
    loop_kind = "uvloop" if "uvloop" in sys.modules else "asyncio"
    return (f"  server: {url} answered a device on 0.9 with 2.0 "
            f"(uvicorn {AutoHTTPProtocol.__name__}, {loop_kind} loop)")
