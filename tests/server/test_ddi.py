"""hawkBit DDI: a device's full flow (poll, deploymentBase, download, feedback, cancel)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from ota_desktop.model import ReleaseRef
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

from .conftest import KEY, add_file_payload

IMAGE = b"swupdate image for 2.0 " * 4000
GW = {"Authorization": f"GatewayToken {KEY}"}
BASE = "/api/v0/hawkbit/default/controller/v1"


@pytest.fixture
def server(start_server, small_demo: Path):
    add_file_payload(small_demo, ReleaseRef("main", version="2.0"), IMAGE, "main-2.0.swu")
    return start_server(small_demo)


def poll(c, serial: str) -> dict:
    r = c.get(f"{BASE}/{serial}", headers=GW)
    assert r.status_code == 200
    return r.json()


def test_full_update_flow_through_to_closed_success(server) -> None:
    serial = "DEF-09-000004"
    with server.client() as c:
        base = poll(c, serial)
        assert re.fullmatch(r"\d\d:\d\d:\d\d", base["config"]["polling"]["sleep"])
        assert base["config"]["polling"]["sleep"] == "01:00:00"
        href = base["_links"]["deploymentBase"]["href"]
        assert re.search(r"/deploymentBase/\d+\?c=[0-9a-f]+$", href)
        deployment = c.get(href, headers=GW).json()
        assert isinstance(deployment["id"], str)
        assert c.get(href, headers=GW).json() == deployment  # repeated GETs are normal
        (chunk,) = deployment["deployment"]["chunks"]
        assert chunk["version"] == "2.0"
        (art,) = chunk["artifacts"]
        assert art["hashes"]["sha1"] == hashlib.sha1(IMAGE).hexdigest()
        assert art["hashes"]["sha256"] == hashlib.sha256(IMAGE).hexdigest()
        assert art["hashes"]["md5"] == hashlib.md5(IMAGE).hexdigest()
        assert art["_links"]["download"]["href"] == art["_links"]["download-http"]["href"]
        data = c.get(art["_links"]["download-http"]["href"], headers=GW).content
        assert hashlib.sha1(data).hexdigest() == art["hashes"]["sha1"]
        feedback = f"{BASE}/{serial}/deploymentBase/{deployment['id']}/feedback"
        for progress in ({"cnt": 1, "of": 3}, {"percentage": 50}, {}, None):
            result = {"finished": "none"} if progress is None else {"finished": "none",
                                                                    "progress": progress}
            r = c.post(feedback, headers=GW, json={"id": int(deployment["id"]), "status": {
                "execution": "proceeding", "result": result, "details": ["downloading"]}})
            assert r.status_code == 200
        r = c.post(feedback, headers=GW, json={"id": deployment["id"], "status": {
            "execution": "closed", "result": {"finished": "success"}, "details": ["done"]}})
        assert r.status_code == 200
        server.flush()
        after = poll(c, serial)
        # the device now runs 2.0; the Delta 2.0→2.1 is next, as a new action
        assert after["_links"]["deploymentBase"]["href"] != href
    store = server.store()
    device = store.device(serial)
    assert device.current_version == "2.0"
    assert [v for _, v in store.device_history(serial)] == ["0.9", "2.0"]
    rows = store.db.execute("SELECT execution, finished FROM ddi_feedback WHERE serial = ? "
                            "ORDER BY id", [serial]).fetchall()
    assert rows[-1] == ("closed", "success") and len(rows) == 5


def test_failure_feedback_is_stored_and_not_offered_again(server) -> None:
    serial = "DEF-09-000005"
    with server.client() as c:
        href = poll(c, serial)["_links"]["deploymentBase"]["href"]
        action = c.get(href, headers=GW).json()["id"]
        r = c.post(f"{BASE}/{serial}/deploymentBase/{action}/feedback", headers=GW, json={
            "id": action, "status": {"execution": "closed", "result": {"finished": "failure"},
                                     "details": ["flash write failed"]}})
        assert r.status_code == 200
        assert "deploymentBase" not in poll(c, serial)["_links"]
    server.flush()
    store = server.store()
    assert store.device(serial).current_version == "0.9"
    details = store.db.execute("SELECT details FROM ddi_feedback WHERE serial = ?",
                               [serial]).fetchone()[0]
    assert "flash write failed" in details


def test_config_data_merges_attributes_and_answers_200(server) -> None:
    serial = "NEW-DDI-1"
    with server.client() as c:
        first = poll(c, serial)
        assert "configData" in first["_links"]
        r = c.put(f"{BASE}/{serial}/configData", headers=GW,
                  json={"mode": "merge", "data": {"hardware_version": "evt", "mac": "00:11"}})
        assert r.status_code == 200
        server.flush()
        r = c.put(f"{BASE}/{serial}/configData", headers=GW, json={"data": {"region": "eu"}})
        server.flush()
        second = poll(c, serial)
    device = server.store().device(serial)
    assert device.attributes == {"hardware_version": "evt", "mac": "00:11", "region": "eu"}
    assert device.cohort == "default"
    # a factory-fresh device with no version gets the highest Full release
    assert "deploymentBase" in second["_links"] and "configData" not in second["_links"]


def test_cancel_when_the_release_is_pulled(server) -> None:
    serial = "DEF-11-000004"
    with server.client() as c:
        href = poll(c, serial)["_links"]["deploymentBase"]["href"]
        action = c.get(href, headers=GW).json()["id"]
        store = Store.open(server.path)
        ProjectService(store).deactivate(ReleaseRef("main", version="2.0"), "default")
        base = poll(c, serial)
        cancel_href = base["_links"]["cancelAction"]["href"]
        cancel = c.get(cancel_href, headers=GW).json()
        assert cancel == {"id": action, "cancelAction": {"stopId": action}}
        r = c.post(cancel_href + "/feedback", headers=GW, json={
            "id": action, "status": {"execution": "closed", "result": {"finished": "success"}}})
        assert r.status_code == 200
        assert "cancelAction" not in poll(c, serial)["_links"]
    server.flush()
    status = server.store().db.execute("SELECT status FROM ddi_actions WHERE action_id = ?",
                                       [action]).fetchone()[0]
    assert status == "canceled"


def test_target_token_auth(server) -> None:
    store = Store.open(server.path)
    token = ProjectService(store).create_target_token("DEF-09-000006")
    with server.client() as c:
        assert c.get(f"{BASE}/DEF-09-000006",
                     headers={"Authorization": f"TargetToken {token}"}).status_code == 200
        assert c.get(f"{BASE}/DEF-09-000007",
                     headers={"Authorization": f"TargetToken {token}"}).status_code == 401


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("get", "/DEF-09-000001", {"headers": {}}, 401),
    ("get", "/DEF-09-000001", {"headers": {"Authorization": "GatewayToken nope"}}, 401),
    ("get", "/DEF-09-000001/deploymentBase/123", {"headers": GW}, 404),
    ("post", "/DEF-09-000001/deploymentBase/1/feedback", {"headers": GW, "content": b"{oops"},
     400),
    ("post", "/DEF-09-000001/deploymentBase/1/feedback",
     {"headers": GW, "content": b'{"status": {"execution": "x"}}' + b" " * 70_000}, 413),
    ("post", "/DEF-09-000001/deploymentBase/1/feedback",
     {"headers": GW, "json": {"id": "2", "status": {"execution": "closed"}}}, 400),
    ("post", "/DEF-09-000001/deploymentBase/1/feedback",
     {"headers": GW, "json": {"status": {"execution": "exploded"}}}, 400),
    ("post", "/DEF-09-000001/deploymentBase/1/feedback", {"headers": GW, "json": [1, 2]}, 400),
    ("put", "/DEF-09-000001/configData", {"headers": GW, "json": {"data": "x"}}, 400),
    ("put", "/DEF-09-000001/configData", {"headers": GW, "json": {"mode": "x", "data": {}}}, 400),
    ("get", "/DEF-09-000001/cancelAction/5", {"headers": GW}, 404),
    ("get", "/DEF-09-000001/softwaremodules/abc/artifacts/x.swu", {"headers": GW}, 404),
    ("get", "/DEF-09-000001/softwaremodules/1/artifacts/..%2F..%2Fetc", {"headers": GW}, 404),
    ("delete", "/DEF-09-000001", {"headers": GW}, 405),
])
def test_bad_ddi_requests_get_4xx_never_5xx(server, method, path, kwargs, status) -> None:
    with server.client() as c:
        r = getattr(c, method)(BASE + path, **kwargs)
    assert r.status_code == status
    assert "error" in r.json()


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("post", "/DEF-09-000001/deploymentBase/1/feedback",
     {"json": {"status": {"execution": ["closed"]}}}),
    ("post", "/DEF-09-000001/cancelAction/1/feedback", {"json": {"status": {"execution": {}}}}),
    ("post", "/DEF-09-000001/deploymentBase/1/feedback",
     {"json": {"status": {"execution": "closed", "result": {"finished": []}}}}),
    ("get", "/DEF-09-000001/softwaremodules/%C2%B2/artifacts/x.MD5SUM", {}),
    ("get", "/DEF-09-000001/softwaremodules/" + "9" * 5000 + "/artifacts/x.MD5SUM", {}),
    ("put", "/DEF-09-000001/configData", {"content": b'{"data": {"software_version": "\\ud800"}}'}),
    ("put", "/DEF-09-000001/configData", {"json": {"data": {"software_version": "1 .0"}}}),
    ("put", "/DEF-09-000001/configData", {"json": {"data": {f"k{i}": "v" for i in range(101)}}}),
    ("get", "/%20", {}),
    ("get", "/" + "x" * 200, {}),
    ("get", "/%0D%0AX-Injected:%201", {}),
])
def test_hostile_ddi_input_found_by_fuzzing_gets_a_4xx(server, method, path, kwargs) -> None:
    with server.client() as c:
        r = getattr(c, method)(BASE + path, headers=GW, **kwargs)
        assert 400 <= r.status_code < 500 and "error" in r.json()
        assert c.get(f"{BASE}/DEF-09-000001", headers=GW).status_code == 200  # still serving


def test_one_unwritable_check_in_does_not_lose_the_others(server) -> None:
    from ota_desktop.server.checkins import CheckIn

    server.state.writer.put(CheckIn("\ud800-bad", "main", "1.0", {}))  # bypassing validation
    with server.client() as c:
        for i in range(20):
            c.put(f"{BASE}/GOOD-{i}/configData", headers=GW, json={"data": {"hardware_version": "evt"}})
    server.flush()
    store = server.store()
    assert all(store.device(f"GOOD-{i}") is not None for i in range(20))
