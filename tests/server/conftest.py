from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from ota_desktop.artifacts import ArtifactStore, artifact_root
from ota_desktop.model import ReleaseRef
from ota_desktop.server.app import create_app
from ota_desktop.server.state import ServerState
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

KEY = "demo-project-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    state: ServerState
    path: Path
    stop: Callable[[], None] = lambda: None

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)

    def flush(self) -> None:
        self.state.writer.flush()

    def store(self) -> Store:
        return Store.open(self.path)


@pytest.fixture
def start_server() -> Iterator[Callable[[Path], RunningServer]]:
    """Start the real ASGI app with uvicorn on a free loopback port."""
    running: list[tuple[uvicorn.Server, threading.Thread, ServerState]] = []

    def start(path: Path, port: int | None = None, signer: object = None) -> RunningServer:
        state = ServerState(path, signer=signer)
        state.start()
        port = port or free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(path, state), host="127.0.0.1",
                                               port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        running.append((server, thread, state))

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=10)
            state.stop()

        return RunningServer(f"http://127.0.0.1:{port}", state, path, stop)

    yield start
    for server, thread, state in running:
        if thread.is_alive():
            server.should_exit = True
            thread.join(timeout=10)
            state.stop()


def add_file_payload(path: Path, ref: ReleaseRef, data: bytes, filename: str,
                     hardware: str = "evt") -> int:
    """Store a real payload file for ``ref`` (the demo's payloads are metadata only)."""
    src = path.parent / filename
    src.write_bytes(data)
    stored = ArtifactStore(artifact_root(path)).add_file(src)
    store = Store.open(path)
    service = ProjectService(store)
    release = store.configuration().find_release(ref)
    assert release is not None
    with store.db.atomic():
        for old in release.payloads:  # replace the metadata-only payload
            assert old.id is not None
            service.remove_payload(old.id)
        payload_id = service.add_payload(ref, filename, size=stored.size, sha256=stored.sha256,
                                         sha1=stored.sha1, md5=stored.md5,
                                         attributes={"hardware_version": hardware})
    store.close()
    return payload_id
