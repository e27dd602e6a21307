"""What the server holds while it runs: one read connection (on the event-loop thread), the
configuration cached until an operation changes it, the check-in writer, and counters."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.responses import JSONResponse

from ota_desktop.artifacts import ArtifactStore, artifact_root
from ota_desktop.errors import InvalidVersion
from ota_desktop.model import Configuration, DeviceState, Payload, Query
from ota_desktop.resolver import Decision, resolve
from ota_desktop.server.checkins import CheckInWriter
from ota_desktop.store.store import DeviceRow, Store


@dataclass
class Counters:
    """Statistics for the window; only the event-loop thread writes them."""

    checkins: int = 0
    downloads: int = 0

    def add(self, **amounts: int) -> None:
        for name, amount in amounts.items():
            setattr(self, name, getattr(self, name) + amount)


class ServerState:
    def __init__(self, path: Path, signer: Any = None) -> None:
        self.path = path
        #: the unlocked signing key: payloads uploaded or pushed here are signed on arrival
        self.signer = signer
        self._local = threading.local()
        self._stores: list[Store] = []
        self.artifacts = ArtifactStore(artifact_root(path))
        self.writer = CheckInWriter(path, on_devices_written=self._forget_devices)
        self._devices: dict[str, DeviceRow | None] = {}
        self._devices_written = 0  # bumped by the writer after each commit that changed rows
        self.counters = Counters()
        self._config: Configuration | None = None
        self._config_key: tuple[int, str] | None = None
        self._decisions: dict[tuple[Any, ...], Decision] = {}
        self._payloads: dict[int, Payload] = {}
        self.open_actions: dict[str, str] = {}  # serial -> action id it is working on
        # keyed by (serial, action id): ids are only unique per device
        self.closed_actions: set[tuple[str, str]] = set()
        self.action_targets: dict[tuple[str, str], str] = {}  # -> the version it installs
        for action_id, serial, status, target in self.store.db.execute(
                "SELECT action_id, serial, status, target_version FROM ddi_actions "
                "ORDER BY updated_at"):
            self.action_targets[(serial, action_id)] = target
            if status == "open":
                self.open_actions[serial] = action_id
            else:
                self.closed_actions.add((serial, action_id))

    @property
    def store(self) -> Store:
        """This thread's read connection (SQLite connections belong to one thread)."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store.open(self.path)
            self._stores.append(store)
        return store

    def service(self, who: Any) -> Any:
        """The service as ``who``, signing new payloads when a key is unlocked."""
        from ota_desktop.service import ProjectService

        return ProjectService(self.store, principal=who, signer=self.signer)

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()
        for store in self._stores:
            # a connection of another (finished) thread cannot be closed here; it goes with it
            with contextlib.suppress(sqlite3.ProgrammingError):
                store.close()

    def config(self) -> Configuration:
        """The configuration, re-read only when a new operation was recorded or a sync
        refreshed the mirror (two indexed lookups per request, so an edit reaches the very
        next poll)."""
        key = self.store.db.conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM operations), "
            "(SELECT coalesce(max(cursor), 0) || '/' || coalesce(max(fleet_cursor), 0) "
            "FROM sync_link)").fetchone()
        if self._config is None or key != self._config_key:
            self._config = self.store.configuration()
            self._config_key = key
            self._decisions.clear()
            self._devices.clear()  # an edit may have moved or staged devices
            self._hardware: dict[str, frozenset[str]] = {}
            self._versions: dict[str, str | None] = {}
            self._payloads = {p.id: p for r in self._config.all_releases
                              for p in r.payloads if p.id is not None}
        return self._config

    def device(self, serial: str) -> DeviceRow | None:
        """The stored device, cached until the check-in writer or an edit changes it."""
        try:
            return self._devices[serial]
        except KeyError:
            pass
        generation = self._devices_written
        row = self.store.device(serial)
        if len(self._devices) > 250_000:
            self._devices.clear()
        # Cache only what no commit overtook while it was read (else it may be stale);
        # unknown devices are looked up again until they are written.
        if row is not None and generation == self._devices_written:
            self._devices[serial] = row
        return row

    def _forget_devices(self, serials: list[str]) -> None:
        """Called by the writer thread after committing changes to these devices."""
        self._devices_written += 1
        for serial in serials:
            self._devices.pop(serial, None)

    def forget_devices(self, serials: list[str]) -> None:
        """Another writer (the fleet simulator) committed changes to these devices."""
        self._forget_devices(serials)

    def decide(self, query: Query, device: DeviceState | None,
               config: Configuration | None = None) -> Decision:
        """The resolver's decision, shared by every device that asks the same question: it
        depends on the cohort, staged mark, version, attributes and key, not on the serial.
        ``config`` is the one this request already read (one configuration check a request)."""
        config = config or self.config()
        key = (device is None, device.cohort if device else None,
               device.staged if device else False, query.software_type, query.current_version,
               tuple(sorted(query.attributes.items())), query.project_key)
        decision = self._decisions.get(key)
        if decision is None:
            if len(self._decisions) > 50_000:
                self._decisions.clear()
            decision = self._decisions[key] = resolve(query, device, config)
        return decision

    def known_hardware(self, config: Configuration, software_type: str) -> frozenset[str]:
        """Hardware versions any payload of ``software_type`` is built for."""
        known = self._hardware.get(software_type)
        if known is None:
            known = self._hardware[software_type] = frozenset(
                p.attributes.get("hardware_version", "") for r in config.all_releases
                if r.software_type == software_type for p in r.payloads)
        return known

    def version_problem(self, config: Configuration, version: str) -> str | None:
        """Why ``version`` is invalid in the project's scheme, or None (memoized)."""
        if version not in self._versions:
            if len(self._versions) > 10_000:
                self._versions.clear()
            try:
                config.scheme.precedence(version)
                self._versions[version] = None
            except InvalidVersion as exc:
                self._versions[version] = str(exc)
        return self._versions[version]

    def payload(self, payload_id: int) -> Payload | None:
        self.config()
        return self._payloads.get(payload_id)


MAX_SERIAL = 128


def text_problem(text: str) -> bool:
    """True when ``text`` cannot be stored as printable Unicode (lone surrogates, controls)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return not text.isprintable()


def serial_problem(serial: str) -> str:
    """Why a device serial / controller id is unusable, or ''."""
    if not serial.strip():
        return "is empty"
    if serial != serial.strip():
        return "has leading or trailing spaces"
    if len(serial) > MAX_SERIAL:
        return f"is longer than {MAX_SERIAL} characters"
    if text_problem(serial):
        return "contains control characters or invalid text"
    return ""


def parse_id(text: str) -> int | None:
    """A database id from a path segment: 1–18 ASCII digits, else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def base_url(request: Any) -> str:
    """scheme://host of this request, without Starlette's URL parsing (hot path)."""
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


def error(status: int, message: str, kind: str = "invalid_request") -> JSONResponse:
    """The one error shape: ``{"error": {"message", "type"}}``."""
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


def json_or_error(body: bytes, limit: int = 64 * 1024) -> tuple[Any, JSONResponse | None]:
    import json

    if len(body) > limit:
        return None, error(413, f"The request body is larger than {limit // 1024} KiB.",
                           "payload_too_large")
    try:
        value = json.loads(body or b"null")
    except (ValueError, RecursionError):
        return None, error(400, "The request body is not valid JSON.")
    # a surrogate can only come from a \uD8xx–\uDFxx escape or from non-ASCII bytes: most
    # bodies (device polls' feedback) skip the walk
    suspect = not body.isascii() or b"\\ud" in body.lower()
    if suspect and not _encodable(value):
        return None, error(400, "The request body holds text that is not valid Unicode "
                                "(a lone surrogate).")
    return value, None


def _encodable(value: Any) -> bool:
    """Every string (keys too) is valid Unicode, so it can be stored and sent back."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
