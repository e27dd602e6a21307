"""The sync client: push the mirror's outbox, pull the change feed, the configuration and the
fleet (paged), over httpx.AsyncClient on whatever asyncio loop runs it (qasync's in the
window, asyncio.run on the command line).

Database work runs in one worker thread that owns its own connection to the mirror, so a
1M-device pull never blocks the loop; every step commits with its cursor, so a sync killed at
any point resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ota_desktop.artifacts import ArtifactStore, artifact_root
from ota_desktop.errors import OtaError
from ota_desktop.store.store import Store
from ota_desktop.sync import mirror

T = TypeVar("T")
Progress = Callable[[str, int, int], None]  # (what, done, total); total 0 = unknown
PREFIX = "/api/v0/organizations/{org}/projects/{project}"
FEED_PAGE = 500
FLEET_PAGE = 5000


class SyncFailed(OtaError):
    """The server refused the sync itself (credentials, or a server error)."""


class Offline(OtaError):
    """The server could not be reached; edits stay queued."""


@dataclass
class SyncReport:
    pushed: int = 0
    conflicts: int = 0
    feed: int = 0
    refreshed: bool = False
    devices: int = 0


def auth_header(credential: str) -> str:
    """An ``oat_`` token goes as Bearer; ``user:password`` as Basic."""
    if credential.startswith("oat_"):
        return f"Bearer {credential}"
    return "Basic " + base64.b64encode(credential.encode("utf-8")).decode("ascii")


class SyncClient:
    def __init__(self, path: Path, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.transport = transport
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ota-sync")
        self._store: Store | None = None

    # --- the worker thread's store ---------------------------------------------------------

    def _worker_store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.path)
        return self._store

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor,
                                          lambda: fn(self._worker_store(), *args))

    def close(self, wait: bool = True) -> None:
        """Close the mirror connection after the step the worker is on (``wait=False``
        returns at once; a sync still running on this client then fails, so cancel it
        first)."""
        def shut() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None
        self._executor.submit(shut)
        self._executor.shutdown(wait=wait)

    # --- one sync --------------------------------------------------------------------------

    async def sync(self, progress: Progress | None = None) -> SyncReport:
        link = await self._db(mirror.link)
        if link is None:
            raise SyncFailed("This project is not connected to a server.")
        if not link.active:
            raise SyncFailed("This project was disconnected from its server; connect it again "
                             "to send the edits queued meanwhile.")
        report = SyncReport()
        say = progress or (lambda what, done, total: None)
        base = link.url + PREFIX.format(org=link.org, project=link.project)
        try:
            async with httpx.AsyncClient(base_url=base, transport=self.transport,
                                         timeout=self.timeout,
                                         headers={"Authorization": auth_header(
                                             link.credential)}) as http:
                await self._whoami(http)
                await self._push(http, link.client, report, say)
                await self._pull_feed(http, report, say)
                await self._pull_fleet(http, report, say)
                await self._recheck(http, say)
        except httpx.ConnectError as exc:
            if "SSL" in str(exc) or "TLS" in str(exc):  # a configuration mistake, not offline
                message = (f"The secure connection to {link.url} failed ({exc}); if the server "
                           "does not use TLS, its address starts with http://.")
                await self._db(mirror.note_result, message)
                raise SyncFailed(message) from exc
            reason = str(exc) or type(exc).__name__
            await self._db(mirror.note_result, f"offline: {reason}")
            raise Offline(f"The server at {link.url} cannot be reached ({reason}); edits "
                          "stay queued.") from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            await self._db(mirror.note_result, f"offline: {reason}")
            raise Offline(f"The server at {link.url} cannot be reached ({reason}); edits "
                          "stay queued.") from exc
        except SyncFailed as exc:
            await self._db(mirror.note_result, str(exc))
            raise
        except Exception as exc:  # anything else: never a silent "Synced"
            message = f"The sync stopped: {exc or type(exc).__name__}"
            await self._db(mirror.note_result, message)
            raise SyncFailed(message) from exc
        await self._db(mirror.note_result, None)
        return report

    async def _whoami(self, http: httpx.AsyncClient) -> None:
        mine = await self._db(mirror.feed_fingerprint)
        response = await http.get("/sync/whoami",
                                  params={"seq": mine["seq"]} if mine else None)
        data = _json(response)
        if response.status_code != 200 or "role" not in data or "server" not in data:
            raise SyncFailed(_message(response, data))
        await self._db(mirror.set_principal, data)
        await self._db(mirror.check_server, str(data["server"]), int(data["revision"]),
                       data.get("at_seq") if mine else None)

    async def _push(self, http: httpx.AsyncClient, client: str, report: SyncReport,
                    say: Progress) -> None:
        while items := await self._db(mirror.next_push):
            say("Sending edits", report.pushed, report.pushed + len(items))
            for item in items:
                await self._upload_artifacts(http, item.change)
            body = {"client": client, "changes": [
                {"id": i.uuid, "base_revision": i.base_revision, "change": i.change}
                for i in items]}
            uuids = [i.uuid for i in items]
            await self._db(mirror.mark_sending, uuids)
            try:
                response = await http.post("/changes", json=body)
            except httpx.ConnectError:  # never left this machine: withdrawable again
                await self._db(mirror.mark_sending, uuids, False)
                raise
            data = _json(response)
            if response.status_code not in (200, 400, 403, 409) or "applied" not in data:
                raise SyncFailed(_message(response, data))
            problem = data.get("conflict") or data.get("refused")
            await self._db(mirror.record_push, data["applied"], problem,
                           "conflict" if response.status_code == 409 else "refused")
            report.pushed += len(data["applied"])
            if problem is not None:
                report.conflicts += 1
                return

    async def _upload_artifacts(self, http: httpx.AsyncClient, change: dict[str, Any]) -> None:
        files = ArtifactStore(artifact_root(self.path))
        for payload in change.get("payloads", []):
            sha = payload.get("sha256", "")
            try:
                path = files.path_for(sha)
            except OtaError:
                continue
            if not path.is_file():
                continue  # metadata-only payload (no file in this project either)
            head = await http.head(f"/sync/artifacts/{sha}")
            if head.status_code == 200:
                continue
            with path.open("rb") as source:
                response = await http.put(f"/sync/artifacts/{sha}", content=_chunks(source))
            if response.status_code not in (200, 201):
                raise SyncFailed(_message(response, _json(response)))

    async def _pull_feed(self, http: httpx.AsyncClient, report: SyncReport,
                         say: Progress) -> None:
        after = await self._db(_feed_cursor)
        link = await self._db(mirror.link)
        assert link is not None
        revision = link.cursor
        while True:
            say("Reading server changes", report.feed, 0)
            response = await http.get("/changes", params={"after": after, "limit": FEED_PAGE})
            data = _json(response)
            if response.status_code != 200:
                raise SyncFailed(_message(response, data))
            await self._db(mirror.record_feed, data["changes"])
            report.feed += len(data["changes"])
            after, revision = data["next"], data["revision"]
            if not data["more"]:
                break
        # refresh when the server moved on, and after a refused or conflicting push too, so
        # the mirror shows the server's version rather than the edit it did not take
        if revision != link.cursor or link.cursor == 0 or report.conflicts \
                or await self._db(mirror.needs_refresh):
            say("Refreshing releases and cohorts", 0, 0)
            response = await http.get("/sync/configuration")
            data = _json(response)
            if response.status_code != 200:
                raise SyncFailed(_message(response, data))
            await self._db(mirror.apply_configuration, data)
            report.refreshed = True
            await self._download_artifacts(http, say)

    async def _recheck(self, http: httpx.AsyncClient, say: Progress) -> None:
        """Re-read what this desktop's own settled edits touched (see mirror._settle)."""
        serials, cohorts = await self._db(mirror.rechecks)
        for i in range(0, len(serials), 1000):
            chunk = serials[i:i + 1000]
            say("Re-reading moved devices", i, len(serials))
            response = await http.post("/sync/devices/lookup", json={"serials": chunk})
            data = _json(response)
            if response.status_code != 200 or "devices" not in data:
                raise SyncFailed(_message(response, data))
            await self._db(mirror.apply_rechecked_devices, chunk, data["devices"])
        for cohort in cohorts:
            say(f"Re-reading the staged devices of {cohort}", 0, 0)
            response = await http.get("/sync/staged", params={"cohort": cohort})
            data = _json(response)
            if response.status_code == 404:  # the cohort is gone on the server
                await self._db(mirror.apply_staged, cohort, [])
                continue
            if response.status_code != 200 or "serials" not in data:
                raise SyncFailed(_message(response, data))
            await self._db(mirror.apply_staged, cohort, data["serials"])

    async def _download_artifacts(self, http: httpx.AsyncClient, say: Progress) -> None:
        """Payload files the mirror lacks (so a factory station can serve them offline);
        a payload the server has no file for either is metadata only and skipped."""
        files = ArtifactStore(artifact_root(self.path))
        wanted = [sha for sha in await self._db(_payload_hashes)
                  if not _has_file(files, sha)]
        for n, sha in enumerate(wanted):
            say("Downloading payload files", n, len(wanted))
            async with http.stream("GET", f"/sync/artifacts/{sha}") as response:
                if response.status_code == 404:
                    continue
                if response.status_code != 200:
                    raise SyncFailed(_message(response, {}))
                files.root.mkdir(parents=True, exist_ok=True)
                part = files.root / f".download-{sha}"
                with part.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
            try:
                stored = await asyncio.get_running_loop().run_in_executor(
                    self._executor, files.add_file, part)
                if stored.sha256 != sha:
                    raise SyncFailed(f"The server sent a file that does not match its sha256 "
                                     f"{sha[:12]}…; it was not kept.")
            finally:
                part.unlink(missing_ok=True)

    async def _pull_fleet(self, http: httpx.AsyncClient, report: SyncReport,
                          say: Progress) -> None:
        link = await self._db(mirror.link)
        assert link is not None
        after, total = link.fleet_cursor, 0
        while True:
            response = await http.get("/sync/devices",
                                      params={"after": after, "limit": FLEET_PAGE})
            data = _json(response)
            if response.status_code != 200:
                raise SyncFailed(_message(response, data))
            total = total or int(data.get("total") or 0)
            report.devices += await self._db(mirror.apply_devices, data)
            after = data["next"]
            say("Reading the fleet", report.devices, max(total, report.devices))
            if not data["more"]:
                break


def _payload_hashes(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT DISTINCT sha256 FROM payloads "
                                           "WHERE length(sha256) = 64")]


def _has_file(files: ArtifactStore, sha: str) -> bool:
    try:
        return files.path_for(sha).is_file()
    except OtaError:
        return True  # not a usable name: nothing to fetch


def _feed_cursor(store: Store) -> int:
    return int(store.db.execute("SELECT coalesce(max(seq), 0) FROM sync_feed").fetchone()[0])


async def _chunks(source: Any, size: int = 1024 * 1024) -> Any:
    while chunk := source.read(size):
        yield chunk


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _message(response: httpx.Response, data: dict[str, Any]) -> str:
    error = data.get("error")
    text = (error.get("message") if isinstance(error, dict) else None) or ""
    text = str(text).rstrip(".")
    if response.status_code == 401:
        return ("The server refused the credentials — check the token, or the user name and "
                f"password ({text or 'unauthorized'}).")
    if response.status_code == 200 or not text:
        return (f"The server answered {response.status_code} {response.reason_phrase} but not "
                "as an OTA Desktop server does; check the address.")
    return f"The server answered {response.status_code}: {text}."
