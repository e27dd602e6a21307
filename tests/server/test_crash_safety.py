"""kill -9 the desktop's sync or the server at random points, again and again: after
restarting, the sync finishes with every queued edit on the server exactly once, nothing
lost, and both files pass PRAGMA integrity_check."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ota_desktop.changes import CreateCohort
from ota_desktop.demo import write_demo
from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from ota_desktop.sync import mirror
from tests.server.conftest import free_port

FIRST_EDITS = 120  # three pushes of 50, 50 and 20
ROUNDS, EDITS_PER_ROUND = 12, 15
EDITS = FIRST_EDITS + ROUNDS * EDITS_PER_ROUND
CLI = [sys.executable, "-m", "ota_desktop"]


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*CLI, "serve", "--db", str(db), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v0/health", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start")


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def integrity(path: Path) -> str:
    return str(Store.open(path).db.execute("PRAGMA integrity_check").fetchone()[0])


def test_repeated_kill_9_of_desktop_and_server_loses_and_duplicates_nothing(tmp_path) -> None:
    rng = random.Random(20261203)
    server_db, local = tmp_path / "server.db", tmp_path / "desk.db"
    store = Store.open(server_db)
    write_demo(store, scale=0.05)  # ~49K devices: a fleet pull of ten pages
    token = ProjectService(store).create_token("desk", permit_protected=True)
    store.close()
    port = free_port()
    server = start_server(server_db, port)
    try:
        m = Store.open(local)
        mirror.connect(m, f"http://127.0.0.1:{port}", "local", "local", token)
        made = 0
        for made in range(FIRST_EDITS):  # made offline, before the first sync ever ran
            mirror.apply_local(m, CreateCohort(f"line-{made:03d}"))
        made += 1
        m.close()

        kills = {"desktop": 0, "server": 0}
        for attempt in range(40):
            if 0 < attempt <= ROUNDS:  # more work each round: new edits, a changed fleet
                m = Store.open(local)
                for _ in range(EDITS_PER_ROUND):
                    mirror.apply_local(m, CreateCohort(f"line-{made:03d}"))
                    made += 1
                m.close()
                s = Store.open(server_db)
                with s.db.atomic():
                    s.db.execute("UPDATE devices SET current_version = ? WHERE id % 7 = ?",
                                 [rng.choice(["2.0", "2.1", "2.2"]), attempt % 7])
                s.close()
            sync = subprocess.Popen([*CLI, "sync", "run", "--db", str(local)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if attempt < ROUNDS:  # kill somewhere in the middle: pushing, refreshing, paging
                time.sleep(rng.uniform(0.2, 1.2))
                victim = rng.choice(["desktop", "desktop", "server"])
                if victim == "server":
                    kill9(server)
                    sync.wait(60)
                    server = start_server(server_db, port)
                else:
                    kill9(sync)
                kills[victim] += 1
                continue
            out, err = sync.communicate(timeout=120)
            if sync.returncode == 0:
                break
        else:
            raise AssertionError(f"the sync never finished: {err.decode()}")
        assert kills["desktop"] >= 3 and kills["server"] >= 1, kills

        m = Store.open(local)
        assert mirror.status(m).label == "Synced"
        assert [i.state for i in mirror.outbox(m, ("pushed",))] == ["pushed"] * EDITS
        assert mirror.outbox(m) == []  # nothing pending, refused or in conflict
        s = Store.open(server_db)
        created = s.db.execute("SELECT entity, count(*) FROM operations WHERE kind = "
                               "'cohort.create' AND entity LIKE 'cohort:line-%' "
                               "GROUP BY entity").fetchall()
        assert len(created) == EDITS and {n for _, n in created} == {1}  # each exactly once
        assert s.db.execute("SELECT count(*) FROM pushed_changes").fetchone()[0] == EDITS
        assert sorted(c.slug for c in m.cohorts()) == sorted(c.slug for c in s.cohorts())
        assert m.device_count() == s.device_count()
        for cohort in ("default", "beta"):
            assert m.groups(cohort, "main") == s.groups(cohort, "main") \
                == m.recount_groups(cohort, "main")
        assert integrity(local) == integrity(server_db) == "ok"
    finally:
        kill9(server)
