"""The factory round trip, as a station operator runs it, with no server between HQ and the
station: HQ exports a signed bundle, the station (a fresh file) imports it and serves its
network, a real SWUpdate updates from the station, the station's check-ins go back as a
bundle and HQ shows the device, its version history and its feedback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ota_desktop.queries import matrix_for
from ota_desktop.store import Store

from .test_swupdate import feedback, project, stop, swupdate, wait_for  # noqa: F401

PASS = "station key passphrase"


def cli(*args: str, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", "ota_desktop.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fingerprint_line(keys_output: str, label: str) -> str:
    line = next(x for x in keys_output.splitlines() if x.startswith(label))
    return line.rsplit(": ", 1)[1].strip()  # the fingerprint ends its line


def test_factory_round_trip_without_a_server(start_server, swupdate, project,  # noqa: F811
                                             tmp_path: Path) -> None:
    hq, signer, image, installed = project
    cli("signing-key", "create", "--db", str(hq), stdin=PASS + "\n")
    out = tmp_path / "to-station.otab"
    assert "1 payload files" in cli("bundle", "export", "--db", str(hq), "--out", str(out),
                                    stdin=PASS + "\n")
    hq_fp = fingerprint_line(cli("bundle", "keys", "--db", str(hq)), "signing key")

    station = tmp_path / "station" / "line3.db"
    station.parent.mkdir()
    cli("bundle", "import", "--db", str(station), str(out), "--trust", hq_fp,
        "--station-name", "line 3")

    server = start_server(station)  # HQ serves nothing: the station is on its own
    first = swupdate(server.url, "FACTORY-001", signer)
    wait_for(lambda: any("All Chunks Installed" in f[3] for f in feedback(station, "FACTORY-001")),
             what="the install from the station")
    assert installed.read_bytes() == image
    stop(first)  # the device "reboots" into the new image and confirms it
    confirm = swupdate(server.url, "FACTORY-001", signer, "-c", "2")
    wait_for(lambda: ("deployment", "closed", "success", '["Update Installed."]')
             in feedback(station, "FACTORY-001"), what="closed/success at the station")
    stop(confirm)
    server.flush()
    server.stop()
    assert Store.open(station).device("FACTORY-001").current_version == "2.0"

    back = tmp_path / "checkins.otab"
    assert "1 devices" in cli("bundle", "checkins", "--db", str(station), "--out", str(back))
    station_fp = fingerprint_line(cli("bundle", "keys", "--db", str(station)), "station key")
    before = Store.open(hq)
    total_before = sum(r["total"] for r in matrix_for(before, "default", "main",
                                                       before.configuration()).to_json()["rows"])
    assert before.device("FACTORY-001") is None
    cli("bundle", "import", "--db", str(hq), str(back), "--trust", station_fp)

    store = Store.open(hq)
    device = store.device("FACTORY-001")
    assert device is not None and device.current_version == "2.0"
    assert device.attributes == {"hardware_version": "evt"}
    assert [v for _, v in store.device_history("FACTORY-001")] == ["2.0"]
    assert feedback(hq, "FACTORY-001")[-1][:3] == ("deployment", "closed", "success")
    rows = matrix_for(store, "default", "main", store.configuration()).to_json()["rows"]
    assert sum(r["total"] for r in rows) == total_before + 1
    assert "station line 3" in {op["actor"] for op in store.operations(5)}
