"""A rollout guard on the real device server: failures reported through the hawkBit feedback
endpoint pause the release, the Latest Release API and DDI stop offering it, resume brings it
back."""

from __future__ import annotations

from pathlib import Path

from ota_desktop.changes import Resume, SetGuard
from ota_desktop.model import ReleaseRef, RolloutGuard
from ota_desktop.store import Store
from ota_desktop.sync.mirror import apply_local, revert_local

from .conftest import KEY

R20 = ReleaseRef("main", version="2.0")
GW = {"Authorization": f"GatewayToken {KEY}"}
BASE = "/api/v0/hawkbit/default/controller/v1"


def latest(c, serial: str, version: str = "1.1"):
    return c.get("/api/v0/releases/latest", headers={"Memfault-Project-Key": KEY},
                 params={"device_serial": serial, "hardware_version": "evt",
                         "current_version": version})


def fail_update(c, serial: str) -> None:
    """A hawkBit device's whole failed attempt: poll, deploymentBase, feedback closed/failure."""
    links = c.get(f"{BASE}/{serial}", headers=GW).json()["_links"]
    href = links["deploymentBase"]["href"]
    action = c.get(href, headers=GW).json()["id"]
    r = c.post(f"{BASE}/{serial}/deploymentBase/{action}/feedback", headers=GW, json={
        "id": action, "status": {"execution": "closed", "result": {"finished": "failure"},
                                 "details": ["flash write failed"]}})
    assert r.status_code == 200


def test_failures_over_ddi_pause_the_release_and_resume_brings_it_back(
        start_server, small_demo: Path) -> None:
    store = Store.open(small_demo)
    apply_local(store, SetGuard(R20, "default", RolloutGuard(failures=3)))
    server = start_server(small_demo)
    with server.client() as c:
        assert latest(c, "DEF-11-000030").json()["version"] == "2.0"
        # a hawkBit device that is in the middle of installing 2.0
        busy = c.get(f"{BASE}/DEF-11-000020", headers=GW).json()["_links"]
        busy_action = c.get(busy["deploymentBase"]["href"], headers=GW).json()["id"]
        for i in range(2):
            fail_update(c, f"DEF-11-{i:06d}")
        server.flush()
        assert latest(c, "DEF-11-000030").status_code == 200  # 2 < 3: still offered
        fail_update(c, "DEF-11-000002")
        server.flush()
        # paused: a 1.1 device has nothing newer to get; a hawkBit device no deployment
        assert latest(c, "DEF-11-000030").status_code == 204
        assert "deploymentBase" not in c.get(f"{BASE}/DEF-11-000031",
                                             headers=GW).json()["_links"]
        # ... and the one in the middle of it is told to cancel
        links = c.get(f"{BASE}/DEF-11-000020", headers=GW).json()["_links"]
        assert links["cancelAction"]["href"].endswith(f"/cancelAction/{busy_action}")
        # a 0.9 device now gets 1.0, the next active Full release, as if 2.0 were pulled
        assert latest(c, "DEF-09-000001", "0.9").json()["version"] == "1.0"

        config = store.configuration()
        (activation,) = [a for a in config.activations_in("default") if a.release == R20]
        assert activation.paused == "paused by rollout guard: 3 failures ≥ 3"
        pause = next(o for o in store.operations(5) if o["kind"] == "activation.pause")
        assert pause["actor"] == "rollout guard"

        resumed = apply_local(store, Resume(R20, "default"))
        assert latest(c, "DEF-11-000030").json()["version"] == "2.0"
        assert "deploymentBase" in c.get(f"{BASE}/DEF-11-000031", headers=GW).json()["_links"]

        revert_local(store, resumed)  # undo of the resume: paused again
        assert latest(c, "DEF-11-000030").status_code == 204


def test_the_management_api_lists_a_paused_deployment_as_paused(start_server,
                                                                small_demo: Path) -> None:
    from ota_desktop.service import ProjectService

    service = ProjectService(Store.open(small_demo))
    token = service.create_token("tooling")
    service.pause(R20, "default", "paused by rollout guard: 3 failures ≥ 3")
    server = start_server(small_demo)
    with server.client() as c:
        got = c.get("/api/v0/organizations/acme/projects/demo/deployments",
                    params={"cohort": "default"}, headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    (paused,) = [d for d in got.json()["data"] if d["release"] == "2.0"]
    assert paused["status"] == "paused" and "3 failures" in paused["paused_reason"]
