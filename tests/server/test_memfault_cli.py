"""The published memfault-cli, pointed at our server with --url and an org token, uploads OTA
payloads and deploys releases; the window's matrix then shows the result."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ota_desktop.queries import matrix_for
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

MEMFAULT = shutil.which("memfault") or str(Path(sys.executable).with_name("memfault"))
pytestmark = pytest.mark.skipif(
    not Path(MEMFAULT).exists() and not os.environ.get("OTA_REQUIRE_REAL_CLIENTS"),
    reason="memfault-cli is not installed (it is in the test extras)")


def cli(server_url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MEMFAULT, "--url", server_url, "--org-token", token, "--org", "acme",
                           "--project", "demo", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def setup(start_server, small_demo: Path):
    service = ProjectService(Store.open(small_demo))
    token = service.create_token("ci", permit_protected=False)
    return start_server(small_demo), token, small_demo


def test_upload_full_and_delta_then_deploy_staged_and_deactivate(setup, tmp_path) -> None:
    server, token, db = setup
    image = tmp_path / "main-3.0.bin"
    image.write_bytes(b"firmware 3.0" * 5000)
    r = cli(server.url, token, "upload-ota-payload", "--hardware-version", "evt",
            "--software-type", "main", "--software-version", "3.0", "--revision", "abc123",
            "--notes", "from CI", "--must-pass-through", "--extra-metadata", "build=42",
            "--extra-metadata", "branch=main", str(image))
    assert r.returncode == 0, r.stderr + r.stdout
    delta = tmp_path / "2.1-3.0.delta"
    delta.write_bytes(b"delta" * 100)
    r = cli(server.url, token, "upload-ota-payload", "--hardware-version", "evt",
            "--software-type", "main", "--delta-from", "2.1", "--delta-to", "3.0", str(delta))
    assert r.returncode == 0, r.stderr + r.stdout
    config = Store.open(db).configuration()
    full = next(x for x in config.releases if x.version == "3.0")
    assert (full.must_pass_through, full.revision, full.notes) == (True, "abc123", "from CI")
    assert full.payloads[0].sha256 == hashlib.sha256(image.read_bytes()).hexdigest()
    assert full.payloads[0].extra == {"build": "42", "branch": "main"}
    assert full.payloads[0].attributes == {"hardware_version": "evt"}  # never matched on
    assert any(d.from_version == "2.1" and d.to_version == "3.0" for d in config.delta_releases)

    # beta is unprotected: the token may deploy there (staged), not in protected default
    r = cli(server.url, token, "deploy-release", "--release-version", "3.0", "--cohort", "beta",
            "--rollout-percent", "50")
    assert r.returncode == 0, r.stderr + r.stdout
    rows = {row.version: {c: x.count for c, x in row.cells.items()}
            for row in matrix_for(Store.open(db), "beta", "main").rows}
    # the cohort's staged share is now 50% of 54; staged 2.1 devices still take the active
    # Delta 2.1→2.2 first (a Delta from the current version beats any Full release)
    assert rows["2.1"] == {"2.1": 27, "2.2": 27}
    history = Store.open(db).activation_history()
    assert (history[-1]["release"], history[-1]["kind"], history[-1]["activated_by"]) == (
        "3.0", "staged", "")
    r = cli(server.url, token, "deploy-release", "--release-version", "3.0", "--cohort",
            "default")
    assert r.returncode != 0 and "403" in r.stderr + r.stdout
    r = cli(server.url, token, "deploy-release", "--release-version", "3.0", "--cohort", "beta",
            "--deactivate")
    assert r.returncode == 0, r.stderr + r.stdout
    assert Store.open(db).activation_history()[-1]["status"] == "pulled"


def test_a_bad_token_is_refused_with_401_not_retried(setup, tmp_path) -> None:
    server, _token, _db = setup
    image = tmp_path / "x.bin"
    image.write_bytes(b"x" * 10)
    r = cli(server.url, "oat_not-a-real-token", "deploy-release", "--release-version", "2.0",
            "--cohort", "beta")
    assert r.returncode != 0 and "401" in r.stderr + r.stdout
