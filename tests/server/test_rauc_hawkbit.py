"""The PyPI rauc-hawkbit client (its RAUC/D-Bus side stubbed) updates from our server:
TargetToken auth, configData, deploymentBase, download with its md5 check, progress and
closed/success feedback; and its answer to a cancel."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sqlite3
import sys
import types
from pathlib import Path

import pytest

from ota_desktop.model import ReleaseRef
from ota_desktop.service import ProjectService
from ota_desktop.store import Store

from .conftest import add_file_payload

if importlib.util.find_spec("rauc_hawkbit") is None:
    if os.environ.get("OTA_REQUIRE_REAL_CLIENTS"):
        raise RuntimeError("rauc-hawkbit is required here (pip install --no-deps rauc-hawkbit)")
    pytest.skip("rauc-hawkbit is not installed", allow_module_level=True)

BUNDLE = b"rauc bundle for 2.0 " * 5000
R20 = ReleaseRef("main", version="2.0")


def _stub_gi() -> None:
    """rauc-hawkbit imports GLib/Gio for D-Bus; the install side is replaced below."""
    if "gi.repository" in sys.modules:
        return
    gi = types.ModuleType("gi")
    repository = types.ModuleType("gi.repository")

    class GLibError(Exception):
        pass

    repository.GLib = types.SimpleNamespace(Error=GLibError)  # type: ignore[attr-defined]
    repository.Gio = types.SimpleNamespace()  # type: ignore[attr-defined]
    gi.repository = repository  # type: ignore[attr-defined]
    sys.modules["gi"], sys.modules["gi.repository"] = gi, repository


def _client_class():
    _stub_gi()
    from rauc_hawkbit.ddi.client import DDIClient
    from rauc_hawkbit.rauc_dbus_ddi_client import RaucDBUSDDIClient

    class StubbedRaucClient(RaucDBUSDDIClient):
        """The real DDI logic; RAUC's D-Bus Installer replaced by a file copy."""

        def __init__(self, session, host, tenant, target, token, attributes, bundle, installed):
            import logging

            self.attributes = attributes
            self.logger = logging.getLogger("rauc_hawkbit")
            self.ddi = DDIClient(session, host, False, token, tenant, target)
            self.action_id = None
            self.bundle_dl_location = str(bundle)
            self.lock_keeper = None
            self.step_callback = None
            self.results: list[int] = []
            self.result_callback = self.results.append
            self.installed = installed

        def cleanup_dbus(self) -> None:  # no D-Bus subscriptions to drop
            pass

        async def install(self):
            shutil.copy(self.bundle_dl_location, self.installed)
            await self.progress_callback(None, None, None, None, None, (50, "Installing", 1))
            await self.complete_callback(None, None, None, None, None, (0,))

    return StubbedRaucClient


async def _run_until(client, done, timeout: float = 30) -> None:
    task = asyncio.ensure_future(client.poll_base_resource())
    try:
        deadline = asyncio.get_event_loop().time() + timeout
        while not done():
            if task.done():
                task.result()
            if asyncio.get_event_loop().time() > deadline:
                raise AssertionError("the rauc-hawkbit client did not finish")
            await asyncio.sleep(0.1)
    finally:
        task.cancel()


def _feedback(db: Path, serial: str) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT kind, execution, finished FROM ddi_feedback WHERE serial = ? "
                           "ORDER BY id", [serial]).fetchall()
    finally:
        con.close()


@pytest.fixture
def rauc_server(start_server, small_demo: Path):
    """The demo serving a RAUC bundle as Full 2.0, polling every second; returns
    (project file, service, host as rauc-hawkbit wants it)."""
    add_file_payload(small_demo, R20, BUNDLE, "main-2.0.raucb")
    service = ProjectService(Store.open(small_demo))
    service.update_cohort("default", polling_interval_s=1)
    server = start_server(small_demo)
    return server, service, server.url.removeprefix("http://") + "/api/v0/hawkbit"


def test_rauc_hawkbit_updates_through_to_closed_success(rauc_server, small_demo: Path,
                                                        tmp_path: Path) -> None:
    import aiohttp

    server, service, host = rauc_server
    token = service.create_target_token("DEF-09-000008")
    installed = tmp_path / "installed.raucb"

    async def main() -> list[int]:
        async with aiohttp.ClientSession() as session:
            client = _client_class()(session, host, "default", "DEF-09-000008", token,
                                     {"hardware_version": "evt", "board": "imx8"},
                                     tmp_path / "bundle.raucb", installed)
            await _run_until(client, lambda: bool(client.results))
            return client.results

    assert asyncio.run(main()) == [0]
    assert installed.read_bytes() == BUNDLE
    server.flush()
    kinds = _feedback(small_demo, "DEF-09-000008")
    assert kinds[0] == ("deployment", "proceeding", "none")
    assert kinds[-1] == ("deployment", "closed", "success")
    device = Store.open(small_demo).device("DEF-09-000008")
    assert device.current_version == "2.0"
    assert device.attributes == {"hardware_version": "evt"}  # known device: no configData asked


def test_rauc_hawkbit_rejects_a_cancel_and_it_is_recorded(rauc_server, small_demo: Path,
                                                          tmp_path: Path) -> None:
    import aiohttp

    server, service, host = rauc_server
    token = service.create_target_token("DEF-09-000009")

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            client = _client_class()(session, host, "default", "DEF-09-000009", token,
                                     {"hardware_version": "evt"}, tmp_path / "b.raucb",
                                     tmp_path / "i.raucb")

            async def never_finish() -> None:  # RAUC is still installing when the pull comes
                return None

            client.install = never_finish
            # the device starts the deployment, then the release is pulled
            base = await client.ddi()
            deployment = base["_links"]["deploymentBase"]["href"]
            action = deployment.split("/deploymentBase/")[1].split("?")[0]
            await client.ddi.deploymentBase[action](deployment.split("?c=")[1])
            service.deactivate(R20, "default")
            client.action_id = None
            await _run_until(client, lambda: any(
                f[0] == "cancel" for f in _feedback(small_demo, "DEF-09-000009")))

    asyncio.run(main())
    server.flush()
    assert ("cancel", "rejected", "success") in _feedback(small_demo, "DEF-09-000009")
