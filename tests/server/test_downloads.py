"""Artifact downloads: the bytes a client gets, for whole files, ranges and encodings."""

from __future__ import annotations

import gzip
import os
import resource
import time
from pathlib import Path

import brotli
import pytest

from ota_desktop.model import ReleaseRef

from .conftest import add_file_payload

TEXT = b"".join(b"line %06d of a compressible firmware manifest\n" % i for i in range(20_000))


@pytest.fixture
def served(start_server, small_demo: Path):
    payload_id = add_file_payload(small_demo, ReleaseRef("main", version="2.0"), TEXT,
                                  "main-2.0.swu")
    return start_server(small_demo), f"/api/v0/artifacts/{payload_id}/main-2.0.swu"


def test_get_head_and_etag(served) -> None:
    server, url = served
    with server.client() as c:
        r = c.get(url, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200 and r.content == TEXT
        assert r.headers["accept-ranges"] == "bytes"
        etag = r.headers["etag"]
        head = c.head(url, headers={"Accept-Encoding": "identity"})
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(TEXT)
        again = c.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
        assert again.status_code == 304 and again.content == b""


def test_ranges_give_exactly_those_bytes(served) -> None:
    server, url = served
    with server.client() as c:
        r = c.get(url, headers={"Range": "bytes=100-199"})
        assert r.status_code == 206 and r.content == TEXT[100:200]
        assert r.headers["content-range"] == f"bytes 100-199/{len(TEXT)}"
        tail = c.get(url, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == TEXT[-10:]
        bad = c.get(url, headers={"Range": f"bytes={len(TEXT) + 5}-"})
        assert bad.status_code == 416


def test_gzip_and_brotli_for_compressible_content(served) -> None:
    server, url = served
    with server.client() as c:
        first = c.get(url, headers={"Accept-Encoding": "br"})
        assert first.content == TEXT  # identity while the variant is being made
        deadline = time.monotonic() + 10
        while True:
            r = c.get(url, headers={"Accept-Encoding": "br"})
            if r.headers.get("content-encoding") == "br" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.headers["content-encoding"] == "br" and r.content == TEXT  # httpx decodes
        raw = c.send(c.build_request("GET", url, headers={"Accept-Encoding": "br"}),
                     stream=True)
        body = b"".join(raw.iter_raw())
        assert len(body) < len(TEXT) / 5 and brotli.decompress(body) == TEXT
        while True:
            g = c.get(url, headers={"Accept-Encoding": "gzip"})
            if g.headers.get("content-encoding") == "gzip" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert g.headers["content-encoding"] == "gzip" and g.content == TEXT
        raw = c.send(c.build_request("GET", url, headers={"Accept-Encoding": "gzip"}),
                     stream=True)
        assert gzip.decompress(b"".join(raw.iter_raw())) == TEXT


def test_incompressible_content_is_sent_as_is(start_server, small_demo: Path) -> None:
    noise = os.urandom(200_000)
    payload_id = add_file_payload(small_demo, ReleaseRef("main", version="2.0"), noise, "n.bin")
    server = start_server(small_demo)
    with server.client() as c:
        for _ in range(3):
            r = c.get(f"/api/v0/artifacts/{payload_id}/n.bin", headers={"Accept-Encoding": "gzip"})
            assert "content-encoding" not in r.headers and r.content == noise


@pytest.mark.parametrize("path", [
    "/api/v0/artifacts/1/..%2F..%2Fetc%2Fpasswd", "/api/v0/artifacts/../../etc/passwd",
    "/api/v0/artifacts/x/main-2.0.swu", "/api/v0/artifacts/99999/main-2.0.swu",
    "/api/v0/artifacts/1/wrong-name.swu",
])
def test_paths_never_escape_the_artifact_store(served, path: str) -> None:
    server, _ = served
    with server.client() as c:
        r = c.get(path)
    assert r.status_code == 404


def test_metadata_only_payload_is_a_clear_404(start_server, small_demo: Path) -> None:
    server = start_server(small_demo)
    with server.client() as c:
        ids = server.state.config().releases[0].payloads[0].id
        r = c.get(f"/api/v0/artifacts/{ids}/main-1.0.swu")
    assert r.status_code == 404 and "metadata only" in r.json()["error"]["message"]


def test_a_ranged_download_of_a_large_file_keeps_memory_flat(start_server, small_demo: Path,
                                                             tmp_path: Path) -> None:
    from ota_desktop.artifacts import ArtifactStore, artifact_root
    from ota_desktop.service import ProjectService
    from ota_desktop.store import Store

    big = tmp_path / "big.img"
    size = 400 * 1024 * 1024
    with open(big, "wb") as fh:
        fh.truncate(size)
        fh.seek(size - 16)
        fh.write(b"END-OF-THE-IMAGE")
    stored = ArtifactStore(artifact_root(small_demo)).add_file(big)
    store = Store.open(small_demo)
    pid = ProjectService(store).add_payload(ReleaseRef("main", version="1.1"), "big.img",
                                            size=size, sha256=stored.sha256,
                                            attributes={"hardware_version": "evt"})
    server = start_server(small_demo)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with server.client() as c, c.stream("GET", f"/api/v0/artifacts/{pid}/big.img",
                  headers={"Range": f"bytes={size - 200 * 1024 * 1024}-"}) as r:
        assert r.status_code == 206
        total, last = 0, b""
        for chunk in r.iter_bytes():
            total += len(chunk)
            last = (last + chunk)[-16:]
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert total == 200 * 1024 * 1024 and last == b"END-OF-THE-IMAGE"
    assert grown_mb < 64, f"peak memory grew by {grown_mb:.0f} MB"


@pytest.mark.parametrize("value", ["bytes=5-1", "bytes=", "bytes=a-b", "bits=0-1", "bytes 0-1",
                                   "bytes=-", "bytes=0x10-0x20"])
def test_a_malformed_range_is_ignored_and_the_whole_file_sent(served, value: str) -> None:
    server, url = served
    with server.client() as c:
        r = c.get(url, headers={"Range": value, "Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.content == TEXT
