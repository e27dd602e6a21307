"""`ota-desktop sync …` as a user types it: connect (credentials checked), run, status
(Offline when the server is away, --all lists sent and discarded edits), resolve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ota_desktop.service import ProjectService
from ota_desktop.store import Store
from tests.server.conftest import free_port


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ota_desktop", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_the_sync_commands_end_to_end(start_server, small_demo: Path, tmp_path) -> None:
    service = ProjectService(Store.open(small_demo))
    service.create_user("ann", "manager", password="pass-word-1")
    port = free_port()
    server = start_server(small_demo, port=port)
    desk = tmp_path / "desk.db"

    wrong = cli("sync", "connect", "--db", str(desk), "--url", server.url, "--user", "ann",
                stdin="not-it\n")
    assert wrong.returncode == 1 and "refused these credentials" in wrong.stderr
    ok = cli("sync", "connect", "--db", str(desk), "--url", server.url, "--user", "ann",
             stdin="pass-word-1\n")
    assert ok.returncode == 0 and "signed in as ann (manager)" in ok.stdout, ok.stderr
    first = cli("sync", "run", "--db", str(desk), "--json")
    assert first.returncode == 0 and json.loads(first.stdout)["devices"] == 981

    assert cli("cohort", "create", "--db", str(desk), "--slug", "qa").returncode == 0
    assert cli("sync", "status", "--db", str(desk)).stdout.startswith("Pending 1")
    server.stop()
    offline = cli("sync", "run", "--db", str(desk))
    assert offline.returncode == 1 and "cannot be reached" in offline.stderr
    assert cli("sync", "status", "--db", str(desk)).stdout.startswith("Offline · 1 pending")

    start_server(small_demo, port=port)
    assert cli("sync", "run", "--db", str(desk)).returncode == 0
    status = json.loads(cli("sync", "status", "--db", str(desk), "--json", "--all").stdout)
    assert status["status"] == "Synced"
    assert [(q["state"], q["description"]) for q in status["queued"]] == [
        ("pushed", "Create cohort qa")]
    assert "qa" in [c.slug for c in Store.open(small_demo).cohorts()]
