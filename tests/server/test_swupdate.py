"""A real SWUpdate (Debian's swupdate, suricatta in hawkBit mode) updates from our server:
poll, configData, deploymentBase, download with its hash check, signed-image install,
feedback through to closed/success after the confirming restart, and a cancel."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ota_desktop.artifacts import ArtifactStore, artifact_root
from ota_desktop.model import ReleaseRef
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

from .conftest import KEY
from .swu import make_signer, make_swu

SWUPDATE = shutil.which("swupdate")
pytestmark = pytest.mark.skipif(
    SWUPDATE is None and not os.environ.get("OTA_REQUIRE_REAL_CLIENTS"),
    reason="Debian's swupdate is not installed (.ci/run installs it)")
R20 = ReleaseRef("main", version="2.0")


def wait_for(check: Callable[[], object], timeout: float = 40, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def swupdate(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def run(url: str, serial: str, signer: Path, *extra: str) -> subprocess.Popen[bytes]:
        cfg = tmp_path / f"{serial}.cfg"
        cfg.write_text(
            "globals : { verbose = true; loglevel = 6; };\n"
            f'suricatta : {{ tenant = "default"; id = "{serial}"; url = "{url}/api/v0/hawkbit";'
            f' polldelay = 1; gatewaytoken = "{KEY}"; retry = 1; }};\n'
            'identify : ( { name = "hardware_version"; value = "evt"; } );\n')
        with open(tmp_path / f"{serial}.log", "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen([SWUPDATE or "swupdate", "-f", str(cfg), "-k", str(signer),
                                     "-H", "evt:1.0", "-v", "-u", " ".join(extra)],
                                    stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                                    start_new_session=True)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def feedback(db: Path, serial: str) -> list[tuple[str, str, str, str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT kind, execution, finished, details FROM ddi_feedback "
                           "WHERE serial = ? ORDER BY id", [serial]).fetchall()
    finally:
        con.close()


@pytest.fixture
def project(small_demo: Path, tmp_path: Path) -> tuple[Path, Path, bytes, Path]:
    """The demo with a signed .swu as Full release 2.0's payload, polling every second."""
    signer = make_signer(tmp_path)
    image = os.urandom(64 * 1024)
    installed = tmp_path / "installed-rootfs.img"
    swu = make_swu(tmp_path, "2.0", image, installed, signer)
    stored = ArtifactStore(artifact_root(small_demo)).add_file(swu)
    store = Store.open(small_demo)
    service = ProjectService(store)
    for old in store.configuration().find_release(R20).payloads:
        service.remove_payload(old.id)
    service.add_payload(R20, swu.name, size=stored.size, sha256=stored.sha256, sha1=stored.sha1,
                        md5=stored.md5, attributes={"hardware_version": "evt"})
    service.update_cohort("default", polling_interval_s=1)
    store.close()
    return small_demo, signer[0], image, installed


def test_swupdate_installs_and_confirms_success(start_server, swupdate, project) -> None:
    db, signer, image, installed = project
    server = start_server(db)
    first = swupdate(server.url, "SWU-1", signer)
    wait_for(lambda: any("All Chunks Installed" in f[3] for f in feedback(db, "SWU-1")),
             what="the install to finish")
    assert installed.read_bytes() == image  # the signed image's payload was written
    stop(first)
    server.flush()
    device = Store.open(db).device("SWU-1")
    assert device.attributes == {"hardware_version": "evt"}  # from configData
    # after the "reboot", SWUpdate confirms the update (-c 2)
    swupdate(server.url, "SWU-1", signer, "-c", "2")
    wait_for(lambda: ("deployment", "closed", "success", '["Update Installed."]')
             in feedback(db, "SWU-1"), what="closed/success feedback")
    server.flush()
    store = Store.open(db)
    assert store.device("SWU-1").current_version == "2.0"
    assert [v for _, v in store.device_history("SWU-1")] == ["2.0"]
    kinds = [(f[1], f[2]) for f in feedback(db, "SWU-1")]
    assert kinds[0] == ("proceeding", "none") and kinds[-1] == ("closed", "success")


def test_swupdate_accepts_a_cancel_when_the_release_is_pulled(start_server, swupdate,
                                                              project) -> None:
    db, signer, _image, _installed = project
    server = start_server(db)
    swupdate(server.url, "SWU-2", signer)
    wait_for(lambda: any("All Chunks Installed" in f[3] for f in feedback(db, "SWU-2")),
             what="the install to finish")
    ProjectService(Store.open(db)).deactivate(R20, "default")
    wait_for(lambda: any(f[0] == "cancel" and f[1] == "closed" for f in feedback(db, "SWU-2")),
             what="the cancel feedback")
    server.flush()
    con = sqlite3.connect(db)
    status = con.execute("SELECT status FROM ddi_actions WHERE serial = 'SWU-2' "
                         "AND release_label = 'Full 2.0'").fetchone()[0]
    assert status == "canceled"
