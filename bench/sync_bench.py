"""Sync benchmark: a desktop pulling the demo fleet (≈981K devices) from a server.

    python bench/sync_bench.py [--server-db existing-demo.db (copied, not changed)]
                               [--port 8765]

Starts ``ota-desktop serve`` as a separate process on loopback and prints, from one run:
- the baseline: copying the same device rows between two SQLite files (ATTACH + INSERT …
  SELECT, no network, no JSON) — the floor for writing a fleet into a mirror;
- a first sync of an empty mirror (configuration + every device, paged) as a ratio to it;
- an incremental sync after 1% of the fleet reported a new version, and a no-change sync;
- the longest stall of the asyncio loop the sync runs on (a 10 ms ticker, as the window's
  qasync loop would see it) against the same ticker's longest stall with no sync running.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ota_desktop.demo import write_demo  # noqa: E402
from ota_desktop.service import ProjectService  # noqa: E402
from ota_desktop.store import Store  # noqa: E402
from ota_desktop.sync import mirror  # noqa: E402
from ota_desktop.sync.client import SyncClient  # noqa: E402


async def ticking(work: object) -> tuple[float, float]:
    """Run ``work`` (a coroutine or None for 2 s idle) under a 10 ms ticker; returns
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
        await work  # type: ignore[misc]
    elapsed = time.perf_counter() - start
    done.set()
    await task
    return elapsed, max(gaps) if gaps else 0.0


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-db", type=Path, help="reuse a demo file (skips writing)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server_db = Path(tmp) / "server.db"
        if args.server_db is not None:  # a scratch copy: the run changes the fleet
            shutil.copyfile(args.server_db, server_db)
        else:
            store = Store.open(server_db)
            write_demo(store)
            store.close()
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

        server = start_server(server_db, args.port)
        try:
            local = Path(tmp) / "mirror.db"
            m = Store.open(local)
            mirror.connect(m, f"http://127.0.0.1:{args.port}", "bench", "bench", token)
            m.close()
            client = SyncClient(local)

            async def run() -> None:
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
                print(f"fleet: {devices:,} devices")
                print(f"baseline SQLite copy of the rows: {baseline:7.2f} s   1.00x")
                print(f"first sync (configuration+fleet): {first:7.2f} s   "
                      f"{first / baseline:.2f}x baseline")
                print(f"incremental sync (1% changed):    {incremental:7.2f} s   "
                      f"{incremental / baseline:.3f}x baseline")
                print(f"no-change sync:                   {nothing:7.2f} s   "
                      f"{nothing / baseline:.3f}x baseline")
                print(f"loop stall, idle (baseline):      {idle_gap:7.1f} ms  1.00x")
                print(f"loop stall during first sync:     {first_gap:7.1f} ms  "
                      f"{first_gap / idle_gap:.1f}x idle")
                print(f"loop stall during incremental:    {inc_gap:7.1f} ms  "
                      f"{inc_gap / idle_gap:.1f}x idle")

            try:
                asyncio.run(run())
            finally:
                client.close()
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
