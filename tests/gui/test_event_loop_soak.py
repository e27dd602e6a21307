"""The window's event loop survives a long run: every asyncio callback is dispatched by Qt
through qasync, so a binding that leaks or over-releases a reference per dispatch (PySide6
6.12.0 over-releases None) aborts the app after a few thousand of them."""

from __future__ import annotations

import subprocess
import sys

SOAK = """
import asyncio, sys
import qasync
from PySide6.QtWidgets import QApplication

app = QApplication([])
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)

async def main():
    before = sys.getrefcount(None)
    for _ in range(30_000):
        await asyncio.sleep(0)
    print("None refcount change", sys.getrefcount(None) - before)

with loop:
    loop.run_until_complete(main())
"""


def test_thirty_thousand_loop_callbacks_do_not_abort_the_process() -> None:
    done = subprocess.run([sys.executable, "-c", SOAK], capture_output=True, text=True,
                          timeout=300, env={"QT_QPA_PLATFORM": "offscreen",
                                            "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    change = int(done.stdout.split()[-1])
    assert change > -1000  # a per-dispatch over-release shows as thousands lost
