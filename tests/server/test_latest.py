"""The Latest Release endpoint: every status code and field of SPEC §7, with a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ota_desktop.model import ReleaseRef

from .conftest import KEY, add_file_payload

H = {"Memfault-Project-Key": KEY}
SDK_LINE = ("/api/v0/releases/latest/url?&device_serial={serial}&hardware_version=evt"
            "&software_type=main&current_version={version}")


@pytest.fixture
def server(start_server, small_demo: Path):
    add_file_payload(small_demo, ReleaseRef("main", version="2.0"), b"full image 2.0" * 1000,
                     "main-2.0.swu")
    return start_server(small_demo)


def test_200_carries_every_field(server) -> None:
    with server.client() as c:
        r = c.get("/api/v0/releases/latest", headers=H, params={
            "device_serial": "DEF-09-000001", "hardware_version": "evt",
            "software_type": "main", "current_version": "0.9"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "version", "revision", "notes", "is_delta", "must_pass_through",
                         "reason", "artifacts"}
    assert (body["version"], body["is_delta"], body["must_pass_through"]) == ("2.0", False, False)
    assert body["revision"] == "v2.0" and "highest applicable" in body["reason"]
    (art,) = body["artifacts"]
    assert set(art) == {"id", "type", "hardware_version", "filename", "file_size", "md5", "sha1",
                        "sha256", "url", "signature", "signature_url"}
    assert (art["filename"], art["file_size"], art["hardware_version"]) == (
        "main-2.0.swu", 14000, "evt")
    assert art["url"].startswith(server.url + "/api/v0/artifacts/")
    with server.client() as c:
        download = c.get(art["url"])
    assert download.status_code == 200 and download.content == b"full image 2.0" * 1000


def test_delta_decision_is_flagged(server) -> None:
    with server.client() as c:
        r = c.get("/api/v0/releases/latest", headers=H, params={
            "device_serial": "DEF-20-000001", "hardware_version": "evt",
            "software_type": "main", "current_version": "2.0"})
    assert r.status_code == 200
    assert (r.json()["version"], r.json()["is_delta"]) == ("2.1", True)
    assert r.json()["artifacts"][0]["type"] == "delta"


def test_204_when_up_to_date(server) -> None:
    with server.client() as c:
        r = c.get("/api/v0/releases/latest", headers=H, params={
            "device_serial": "DEF-21-000001", "hardware_version": "evt",
            "software_type": "main", "current_version": "2.1"})
    assert r.status_code == 204 and r.content == b""


def test_the_published_sdk_request_line_works_unchanged(server) -> None:
    with server.client() as c:
        r = c.get(SDK_LINE.format(serial="DEF-09-000002", version="0.9"), headers=H)
        assert r.status_code == 200
        assert r.text.startswith(server.url + "/api/v0/artifacts/")
        assert r.text.endswith("/main-2.0.swu")
        alias = c.get(SDK_LINE.format(serial="DEF-09-000002", version="0.9")
                      .replace("current_version", "software_version"), headers=H)
        assert alias.text == r.text
        up_to_date = c.get(SDK_LINE.format(serial="DEF-21-000002", version="2.1"), headers=H)
        assert up_to_date.status_code == 204


@pytest.mark.parametrize(("params", "headers", "status", "message"), [
    ({"hardware_version": "evt", "current_version": "0.9"}, H, 400, "device_serial"),
    ({"device_serial": "X", "hardware_version": "dvt", "current_version": "0.9"}, H, 400,
     "hardware_version"),
    ({"device_serial": "X", "current_version": "0.9"}, H, 400, "hardware_version"),
    ({"device_serial": "X", "hardware_version": "evt", "software_type": "ble"}, H, 400,
     "software_type"),
    ({"device_serial": "X", "hardware_version": "evt", "current_version": "1 .0"}, H, 400,
     "not a valid natural version"),
    ({"device_serial": "X", "hardware_version": "evt"}, {}, 403, "Project-Key"),
    ({"device_serial": "X", "hardware_version": "evt"}, {"Memfault-Project-Key": "nope"}, 403,
     "Project-Key"),
])
def test_bad_requests_get_the_documented_4xx(server, params, headers, status, message) -> None:
    with server.client() as c:
        for path in ("/api/v0/releases/latest", "/api/v0/releases/latest/url"):
            r = c.get(path, headers=headers, params=params)
            assert r.status_code == status
            assert message in r.json()["error"]["message"]
            assert set(r.json()["error"]) == {"message", "type"}


def test_no_current_version_offers_the_highest_full(server) -> None:
    with server.client() as c:
        r = c.get("/api/v0/releases/latest", headers=H,
                  params={"device_serial": "NEW-1", "hardware_version": "evt"})
    assert r.status_code == 200 and r.json()["version"] == "2.0"


def test_check_ins_create_unknown_devices_and_record_version_changes(server) -> None:
    with server.client() as c:
        for version in ("0.9", "0.9", "2.0"):
            c.get(SDK_LINE.format(serial="FACTORY-7", version=version), headers=H)
        c.get(SDK_LINE.format(serial="DEF-09-000003", version="2.0"), headers=H)
    server.flush()
    store = server.store()
    new = store.device("FACTORY-7")
    assert (new.cohort, new.current_version, new.attributes) == (
        "default", "2.0", {"hardware_version": "evt"})
    assert [v for _, v in store.device_history("FACTORY-7")] == ["0.9", "2.0"]
    assert [v for _, v in store.device_history("DEF-09-000003")] == ["0.9", "2.0"]
    rows = {r.version: r.total for r in __import__("ota_desktop.queries", fromlist=["x"])
            .matrix_for(store, "default", "main").rows}
    assert rows["0.9"] == 20 and rows["2.0"] == 134  # the matrix follows check-ins


def test_the_project_key_override_applies(server) -> None:
    with server.client() as c:
        r = c.get("/api/v0/releases/latest", headers={"Memfault-Project-Key": "factory-recovery"},
                  params={"device_serial": "BET-21-000001", "hardware_version": "evt",
                          "current_version": "2.0"})
    assert r.status_code == 200 and r.json()["version"] == "2.1"


def test_openapi_schema_is_published(server) -> None:
    with server.client() as c:
        schema = c.get("/api/v0/openapi.json").json()
    assert "/api/v0/releases/latest" in schema["paths"]
    assert "204" in schema["paths"]["/api/v0/releases/latest"]["get"]["responses"]
