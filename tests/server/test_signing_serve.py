"""Signed payloads served: the signature in the Latest Release JSON, the detached .sig beside
the artifact and the public key — and a device-side check of the downloaded file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ota_desktop import signing
from ota_desktop.model import ReleaseRef
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

from .conftest import KEY, add_file_payload

ASK = {"device_serial": "DEF-09-000001", "hardware_version": "evt", "software_type": "main",
       "current_version": "0.9"}


def test_a_device_can_verify_what_it_downloads(start_server, small_demo: Path) -> None:
    image = b"full image 2.0" * 1000
    add_file_payload(small_demo, ReleaseRef("main", version="2.0"), image, "main-2.0.swu")
    server = start_server(small_demo)
    with server.client() as c:
        unsigned = c.get("/api/v0/releases/latest", headers={"Memfault-Project-Key": KEY},
                         params=ASK).json()["artifacts"][0]
        assert unsigned["signature"] is None and unsigned["signature_url"] is None
        assert c.get("/api/v0/signing-key.pem").status_code == 404
    service = ProjectService(Store.open(small_demo))
    service.create_signing_key("correct horse battery")
    service.sign_payloads("correct horse battery")
    with server.client() as c:
        artifact = c.get("/api/v0/releases/latest", headers={"Memfault-Project-Key": KEY},
                         params=ASK).json()["artifacts"][0]
        body = c.get(artifact["url"]).content
        detached = c.get(artifact["signature_url"])
        pem = c.get("/api/v0/signing-key.pem")
        missing = c.get(artifact["url"].rsplit("/", 1)[0] + "/other.swu.sig")
    assert body == image and detached.status_code == 200
    assert detached.text.strip() == artifact["signature"]
    assert pem.headers["x-signature-algorithm"] == "ed25519"
    public = signing.load_public(pem.text)
    assert signing.verify(public, hashlib.sha256(body).hexdigest(), artifact["signature"])
    assert not signing.verify(public, hashlib.sha256(body + b"x").hexdigest(),
                              artifact["signature"])
    assert missing.status_code == 404


def test_payloads_uploaded_to_a_signing_server_are_signed_on_arrival(start_server,
                                                                     small_demo: Path) -> None:
    import base64

    service = ProjectService(Store.open(small_demo))
    service.create_signing_key("correct horse battery", "ecdsa-p256")
    token = service.create_token("ci")
    server = start_server(small_demo, signer=service.signing_key("correct horse battery"))
    image = b"uploaded image" * 500
    prefix = "/api/v0/organizations/acme/projects/demo"
    with server.client(headers={"Authorization": f"Bearer {token}"}) as c:
        slot = c.post(prefix + "/upload", json={"size": len(image)}).json()["data"]
        assert c.put(slot["upload_url"], content=image).status_code == 200
        r = c.post(prefix + "/releases/ota_payload", json={
            "file": {"token": slot["token"], "md5": hashlib.md5(image).hexdigest(),
                     "name": "main-5.0.swu"},
            "software_version": {"version": "5.0", "software_type": "main"},
            "hardware_version": "evt"})
        assert r.status_code == 201, r.text
    release = next(x for x in Store.open(small_demo).configuration().releases
                   if x.version == "5.0")
    [payload] = release.payloads
    public = signing.load_public(service.db.execute(
        "SELECT public_pem FROM signing_key").fetchone()[0])
    assert signing.verify(public, hashlib.sha256(image).hexdigest(), payload.signature)
    assert base64.b64decode(payload.signature)


def test_a_mirror_serves_its_servers_public_key_after_a_sync(start_server, small_demo,
                                                             tmp_path) -> None:
    from tests.server.test_sync import new_mirror, sync

    service = ProjectService(Store.open(small_demo))
    pem = service.create_signing_key("correct horse battery")
    token = service.create_token("station", permit_protected=True)
    hq = start_server(small_demo)
    station = new_mirror(tmp_path, "station", hq.url, token)
    served = start_server(station)
    with served.client() as c:
        assert c.get("/api/v0/signing-key.pem").status_code == 404  # nothing synced yet
    sync(station)
    with served.client() as c:
        got = c.get("/api/v0/signing-key.pem")
    assert got.status_code == 200 and got.text == pem
