"""Sync benchmark: a desktop pulling the demo fleet (≈981K devices) from a server.

    python bench/sync_bench.py [--server-db existing-demo.db (copied, not changed)]
                               [--port 8765] [--qt] [--quick]

Starts ``ota-desktop serve`` as a separate process on loopback and prints, from one run:
- the baseline: copying the same device rows between two SQLite files (ATTACH + INSERT …
  SELECT, no network, no JSON) — the floor for writing a fleet into a mirror;
- a first sync of an empty mirror (configuration + every device, paged) as a ratio to it;
- an incremental sync after 1% of the fleet reported a new version, and a no-change sync;
- the longest stall of the event loop the sync runs on (a 10 ms ticker) against the same
  ticker's longest stall with no sync running. With ``--qt`` that loop is the window's: a
  qasync loop over a QApplication (offscreen), else a plain asyncio loop.

``--quick`` uses a 1/50 demo. ``bench/run_all.py`` runs ``--qt --json`` as a child process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from benchlib import Figure, free_port, write_demo_file

from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from ota_desktop.sync import mirror
from ota_desktop.sync.client import SyncClient

SECTION = "sync"
T = TypeVar("T")


async def ticking(work: Awaitable[object] | None) -> tuple[float, float]:
    """Run ``work`` (or 2 s idle when None) under a 10 ms ticker; returns
    (seconds, longest gap between ticks in ms)."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append((now - last) * 1000)
            last = now

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    if work is None:
        await asyncio.sleep(2)
    else:
        await work
    elapsed = time.perf_counter() - start
    done.set()
    await task
    return elapsed, max(gaps) if gaps else 0.0


def run_loop(main: Callable[[], Awaitable[T]], qt: bool) -> T:
    """Run ``main`` on asyncio's loop, or (``qt``) on the window's kind: qasync over Qt."""
    if not qt:
        return asyncio.run(main())  # type: ignore[arg-type]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            return loop.run_until_complete(main())  # type: ignore[no-any-return]
    finally:
        asyncio.set_event_loop(None)


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "ota_desktop", "serve", "--db", str(db),
                             "--port", str(port)], stdout=subprocess.DEVNULL)
    for _ in range(400):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v0/health", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start")


@dataclass
class SyncResult:
    devices: int
    loop: str
    baseline_s: float
    first_s: float
    incremental_s: float
    nothing_s: float
    idle_gap_ms: float
    first_gap_ms: float
    incremental_gap_ms: float

    def figures(self) -> list[Figure]:
        fleet = f"{self.devices:,} devices pulled from ota-desktop serve on loopback"
        ticker = f"10 ms ticker on the {self.loop} loop the sync runs on"
        return [
            Figure(SECTION, "loop stall during a first sync", self.first_gap_ms,
                   "idle loop's longest gap", self.idle_gap_ms, "ms", f"{ticker}; {fleet}"),
            Figure(SECTION, "loop stall during an incremental sync", self.incremental_gap_ms,
                   "idle loop's longest gap", self.idle_gap_ms, "ms",
                   f"{ticker}; 1% of {self.devices:,} devices changed"),
            Figure(SECTION, "first sync (configuration + fleet)", self.first_s,
                   "SQLite copy of the rows", self.baseline_s, "s", fleet),
        ]


def measure(source_db: Path, port: int | None = None, qt: bool = False) -> SyncResult:
    """Serve a scratch copy of ``source_db`` (the run changes it) and sync a mirror from it."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="ota-sync-") as tmp:
        server_db = Path(tmp) / "server.db"
        shutil.copyfile(source_db, server_db)
        token = ProjectService(Store.open(server_db)).create_token("bench")
        devices = Store.open(server_db).device_count()

        floor = Path(tmp) / "floor.db"
        start = time.perf_counter()
        copy = Store.open(floor)
        copy.db.execute("ATTACH DATABASE ? AS src", [str(server_db)])
        with copy.db.atomic():
            copy.db.execute("CREATE TABLE copied AS SELECT * FROM src.devices WHERE 0")
            copy.db.execute("INSERT INTO copied SELECT * FROM src.devices")
        baseline = time.perf_counter() - start
        copy.close()

        server = start_server(server_db, port)
        try:
            local = Path(tmp) / "mirror.db"
            m = Store.open(local)
            mirror.connect(m, f"http://127.0.0.1:{port}", "bench", "bench", token)
            m.close()
            client = SyncClient(local)

            async def run() -> SyncResult:
                _, idle_gap = await ticking(None)
                first, first_gap = await ticking(client.sync())
                s = Store.open(server_db)
                with s.db.atomic():
                    s.db.execute("UPDATE devices SET current_version = CASE current_version "
                                 "WHEN '2.1' THEN '2.0' ELSE '2.1' END WHERE id % 100 = 7")
                s.close()
                incremental, inc_gap = await ticking(client.sync())
                nothing, _ = await ticking(client.sync())
                pulled = Store.open(local).device_count()
                assert pulled == devices, (pulled, devices)
                return SyncResult(devices, "qasync (Qt)" if qt else "asyncio", baseline, first,
                                  incremental, nothing, idle_gap, first_gap, inc_gap)

            try:
                return run_loop(run, qt)
            finally:
                client.close()
        finally:
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-db", type=Path, help="reuse a demo file (skips writing)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--qt", action="store_true", help="sync on a qasync loop over Qt")
    parser.add_argument("--quick", action="store_true", help="a 1/50 demo")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.server_db
        if source is None:
            source = Path(tmp) / "demo.db"
            write_demo_file(source, 1 / 50 if args.quick else 1.0)
        r = measure(source, args.port, args.qt)
    if args.json:
        print(json.dumps(asdict(r)), flush=True)
        return
    print(f"fleet: {r.devices:,} devices, sync on the {r.loop} loop")
    print(f"baseline SQLite copy of the rows: {r.baseline_s:7.2f} s   1.00x")
    print(f"first sync (configuration+fleet): {r.first_s:7.2f} s   "
          f"{r.first_s / r.baseline_s:.2f}x baseline")
    print(f"incremental sync (1% changed):    {r.incremental_s:7.2f} s   "
          f"{r.incremental_s / r.baseline_s:.3f}x baseline")
    print(f"no-change sync:                   {r.nothing_s:7.2f} s   "
          f"{r.nothing_s / r.baseline_s:.3f}x baseline")
    print(f"loop stall, idle (baseline):      {r.idle_gap_ms:7.1f} ms  1.00x")
    print(f"loop stall during first sync:     {r.first_gap_ms:7.1f} ms  "
          f"{r.first_gap_ms / r.idle_gap_ms:.1f}x idle")
    print(f"loop stall during incremental:    {r.incremental_gap_ms:7.1f} ms  "
          f"{r.incremental_gap_ms / r.idle_gap_ms:.1f}x idle")


if __name__ == "__main__":
    main()
