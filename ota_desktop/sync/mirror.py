"""The desktop's side of sync, on its local SQLite mirror (Qt-free, blocking; the async client
runs these in its worker thread).

A linked mirror queues every local edit, as the Change that made it, in ``sync_outbox`` in the
same transaction as the edit itself, so an edit made offline survives a crash and goes up
later. A refresh replaces the configuration with the server's rows (same ids, so the mirror
is a replica) and re-applies the edits still waiting to go up, so the window shows the
server's state plus the user's own pending work. Nothing in the outbox is ever deleted: an
item ends ``pushed`` or, by the user's choice, ``discarded``.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ota_desktop.auth import ROLES, Principal, Role
from ota_desktop.changes import Change
from ota_desktop.errors import BadInput, NotFound, OtaError, RuleViolation
from ota_desktop.model import attributes_key
from ota_desktop.service import ProjectService
from ota_desktop.service.base import utc_now
from ota_desktop.store.store import Store
from ota_desktop.sync.feed import CONFIG_TABLES
from ota_desktop.sync.wire import change_from_json, change_to_json

OutboxState = Literal["pending", "conflict", "refused", "pushed", "discarded"]


@dataclass(frozen=True)
class Link:
    url: str
    org: str
    project: str
    credential: str
    client: str
    cursor: int
    fleet_cursor: int
    last_sync_at: str | None
    last_error: str | None
    server_id: str | None = None
    active: bool = True


@dataclass(frozen=True)
class OutboxItem:
    id: int
    uuid: str
    change: dict[str, Any]
    description: str
    base_revision: int
    state: OutboxState
    server_seq: int | None
    detail: dict[str, Any] | None
    created_at: str


@dataclass(frozen=True)
class SyncStatus:
    """What the status indicator shows."""

    linked: bool
    pending: int = 0
    disconnected: bool = False
    syncing: bool = False
    conflicts: int = 0
    offline: bool = False
    last_sync_at: str | None = None
    last_error: str | None = None

    @property
    def label(self) -> str:
        if self.disconnected:
            return f"Disconnected · {self.pending} pending" if self.pending else "Disconnected"
        if not self.linked:
            return "Local only"
        waiting = f" · {self.pending} pending" if self.pending else ""
        if self.conflicts:
            return f"Conflict ({self.conflicts}){waiting}"
        if self.syncing:
            return "Syncing…"
        if self.offline:
            return f"Offline{waiting}"
        if self.last_error:
            return f"Sync failed{waiting}"
        if self.pending:
            return f"Pending {self.pending}"
        return "Synced" if self.last_sync_at else "Not synced yet"


# --- the link ------------------------------------------------------------------------------

def connect(store: Store, url: str, org: str, project: str, credential: str) -> Link:
    """Link this mirror to a server. Relinking the same server keeps the client id, cursors
    and outbox; another server starts from scratch on the next refresh (queued edits are
    kept, based on nothing it has seen, so any change there to the same thing conflicts)."""
    url = check_url(url)
    for value, what in ((org, "organization"), (project, "project")):
        if not value.strip() or "/" in value or not value.isprintable():
            raise BadInput(f"Name the {what} (printable, without '/').")
    if not credential or not credential.isprintable():
        raise BadInput("A token or a user name and password is needed to sign in.")
    old = link(store)
    with store.writing():
        if old is None:
            store.db.execute(
                "INSERT INTO sync_link (id, url, org, project, credential, client, "
                "refreshed_op) VALUES (1, ?, ?, ?, ?, ?, ?)",
                [url, org, project, credential, uuid.uuid4().hex, _refreshed_op(store)])
        else:
            store.db.execute(
                "UPDATE sync_link SET url = ?, org = ?, project = ?, credential = ?, "
                "active = 1, principal = NULL", [url, org, project, credential])
            # whether it is the same server is decided by its identity at the next sync
            # (another host name for the same server keeps everything)
    result = link(store)
    assert result is not None
    return result


def check_url(url: str) -> str:
    """The server address, normalized; BadInput saying what is wrong with it."""
    url = url.strip().rstrip("/")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"That is not a usable server address ({exc}).") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise BadInput("The server address starts with http:// or https://.")
    if not parts.hostname:
        raise BadInput("The server address needs a host, e.g. http://127.0.0.1:8000.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise BadInput("The server address cannot contain spaces.")
    if port is not None and not 0 < port < 65536:
        raise BadInput("The port is between 1 and 65535.")
    if parts.query or parts.fragment:
        raise BadInput("The server address has no ?query or #fragment.")
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, "", ""))


def forget_server(store: Store) -> None:
    """Start over with a server (another one, or one whose history went backwards): the next
    refresh re-pulls everything, and queued edits count as based on nothing seen there."""
    store.db.execute("UPDATE sync_link SET cursor = 0, fleet_cursor = 0, server_id = NULL, "
                     "last_sync_at = NULL")
    store.db.execute("DELETE FROM sync_feed")
    store.db.execute("UPDATE sync_outbox SET base_revision = 0 WHERE state IN "
                     "('pending', 'conflict', 'refused')")


def disconnect(store: Store) -> None:
    """Stop syncing. Edits go on being queued (nothing made meanwhile is lost), and
    connecting again to the same server sends them."""
    with store.writing():
        store.db.execute("UPDATE sync_link SET active = 0")


def link(store: Store) -> Link | None:
    row = store.db.execute(
        "SELECT url, org, project, credential, client, cursor, fleet_cursor, last_sync_at, "
        "last_error, server_id, active FROM sync_link").fetchone()
    if row is None:
        return None
    names = [f.name for f in dataclasses.fields(Link)]
    return Link(**{**dict(zip(names, row, strict=True)), "active": bool(row[10])})


def feed_fingerprint(store: Store) -> dict[str, Any] | None:
    """The last operation this mirror pulled (seq, at, entity), as it saw it."""
    current = link(store)
    if current is None or current.cursor == 0:
        return None
    row = store.db.execute("SELECT seq, at, entity FROM sync_feed WHERE seq = ?",
                           [current.cursor]).fetchone()
    return {"seq": row[0], "at": row[1], "entity": row[2]} if row else None


def check_server(store: Store, server: str, server_revision: int,
                 at_cursor: dict[str, Any] | None = None) -> bool:
    """Before pushing: if the server's file is another one, or its history is not the one
    this mirror pulled (restored from an older copy, even one that has since moved on past
    the cursor), forget it and start over. True when it did."""
    current = link(store)
    assert current is not None
    mine = feed_fingerprint(store)
    same_history = server_revision >= current.cursor and (mine is None or mine == at_cursor)
    if current.server_id == server and same_history:
        return False
    forget = current.server_id is not None or not same_history  # else: first contact
    with store.writing():
        if forget:
            forget_server(store)
        store.db.execute("UPDATE sync_link SET server_id = ?", [server])
    return forget


def _refreshed_op(store: Store) -> int:
    row = store.db.execute("SELECT refreshed_op FROM sync_link").fetchone()
    return int(row[0]) if row else 0


def set_principal(store: Store, who: dict[str, Any]) -> None:
    """Remember who the server says the credentials are (see ``local_principal``)."""
    with store.writing():
        store.db.execute("UPDATE sync_link SET principal = ?", [json.dumps(who)])


def local_principal(store: Store, actor: str = "local") -> Principal:
    """Who local edits act as: on a linked mirror, the server's principal for its
    credentials (a reader's desktop refuses edits at once instead of queueing edits the
    server would refuse); otherwise the desktop's owner."""
    row = store.db.execute("SELECT principal FROM sync_link").fetchone()
    if row is None or not row[0]:
        return Principal(actor)
    who = json.loads(row[0])
    role: Role = who["role"] if who.get("role") in ROLES else "reader"
    return Principal(str(who.get("name") or actor), role, bool(who.get("is_token")),
                     bool(who.get("permit_protected")))


def note_result(store: Store, error: str | None) -> None:
    """Record how the last sync ended (``None``: it succeeded now)."""
    with store.writing():
        if error is None:
            store.db.execute("UPDATE sync_link SET last_sync_at = ?, last_error = NULL",
                             [utc_now()])
        else:
            store.db.execute("UPDATE sync_link SET last_error = ?", [error])


def status(store: Store, offline: bool = False) -> SyncStatus:
    current = link(store)
    if current is None:
        return SyncStatus(False)
    counts = dict(store.db.execute(
        "SELECT state, count(*) FROM sync_outbox GROUP BY state").fetchall())
    if (current.last_error or "").startswith("offline:"):
        offline = True  # the last attempt could not reach the server
    return SyncStatus(current.active, pending=counts.get("pending", 0),
                      disconnected=not current.active,
                      conflicts=counts.get("conflict", 0) + counts.get("refused", 0),
                      offline=offline, last_sync_at=current.last_sync_at,
                      last_error=current.last_error)


# --- local edits -----------------------------------------------------------------------------

def apply_local(store: Store, change: Change, actor: str = "local",
                signer: Any = None, principal: Principal | None = None) -> list[int]:
    """Apply ``change`` to the mirror and, when linked, queue it in the same transaction.
    Returns the ids of the operations it recorded (for undo). ``signer``: the unlocked
    signing key, so payloads it adds are signed; ``principal`` acts instead of the local
    user (the rollout guard pausing a rollout)."""
    service = ProjectService(store, principal=principal or local_principal(store, actor),
                             signer=signer)
    current = link(store)
    first = service.last_operation_id()
    with store.writing():
        change.apply(service)
        last = service.last_operation_id()
        if current is not None and last > first:
            now = utc_now()
            store.db.execute(
                "INSERT INTO sync_outbox (uuid, change, description, base_revision, first_op, "
                "last_op, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [uuid.uuid4().hex, json.dumps(change_to_json(change)), change.describe(),
                 current.cursor, first + 1, last, now, now])
    return list(range(first + 1, last + 1))


def revert_local(store: Store, operation_ids: list[int], actor: str = "local") -> list[int]:
    """Undo local operations newest first. In a linked mirror an edit can be undone while it
    waits to go up (its queued change is then discarded, so it never reaches the server);
    once sent, or once the mirror was refreshed over it, it is changed on the server instead."""
    service = ProjectService(store, principal=local_principal(store, actor))
    undo_ids = []
    with store.writing():
        if link(store) is not None:
            for op_id in operation_ids:
                _release_from_outbox(store, op_id)
        for op_id in reversed(operation_ids):
            service.revert(op_id)
            undo_ids.append(service.last_operation_id())
    return undo_ids


def _release_from_outbox(store: Store, op_id: int) -> None:
    if op_id <= _refreshed_op(store):
        raise RuleViolation("The project was refreshed from the server since this edit; "
                            "change it again instead of undoing it.")
    row = store.db.execute("SELECT id, state, sent_at FROM sync_outbox WHERE ? BETWEEN "
                           "first_op AND last_op", [op_id]).fetchone()
    if row is None:
        return
    if row[1] == "pushed":
        raise RuleViolation("This edit has already been sent to the server; change it again "
                            "instead of undoing it.")
    _refuse_if_sending(row[1], row[2])
    _set_state(store, row[0], "discarded", {"reason": "undone before it was sent"})


def _refuse_if_sending(state: str, sent_at: str | None) -> None:
    if state == "pending" and sent_at is not None:
        raise RuleViolation("This edit is being sent to the server (or may have reached it "
                            "before the connection broke); after the next sync, change it "
                            "again instead.")


# --- the outbox ------------------------------------------------------------------------------

def mark_sending(store: Store, uuids: list[str], sending: bool = True) -> None:
    """Before a push goes out: these edits can no longer be withdrawn quietly (the server
    may apply them even if its answer never arrives). ``sending=False`` when the request
    certainly never left (the connection was refused)."""
    with store.writing():
        store.db.conn.executemany(
            "UPDATE sync_outbox SET sent_at = ? WHERE uuid = ? AND state = 'pending'",
            [(utc_now() if sending else None, u) for u in uuids])

def outbox(store: Store, states: Iterable[OutboxState] = ("pending", "conflict", "refused")
           ) -> list[OutboxItem]:
    wanted = list(states)
    rows = store.db.execute(
        f"SELECT id, uuid, change, description, base_revision, state, server_seq, detail, "
        f"created_at FROM sync_outbox WHERE state IN ({', '.join('?' * len(wanted))}) "
        f"ORDER BY id", wanted).fetchall()
    return [OutboxItem(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6],
                       json.loads(r[7]) if r[7] else None, r[8]) for r in rows]


def next_push(store: Store, limit: int = 50) -> list[OutboxItem]:
    """The pending items to send now: in order, none past an unresolved conflict (a later
    edit may depend on the one that conflicted)."""
    blocked = store.db.execute("SELECT min(id) FROM sync_outbox WHERE state IN "
                               "('conflict', 'refused')").fetchone()[0]
    items = outbox(store, ("pending",))
    return [i for i in items if blocked is None or i.id < blocked][:limit]


def _set_state(store: Store, item_id: int, state: OutboxState,
               detail: dict[str, Any] | None = None, server_seq: int | None = None) -> None:
    store.db.execute(
        "UPDATE sync_outbox SET state = ?, detail = coalesce(?, detail), "
        "server_seq = coalesce(?, server_seq), updated_at = ? WHERE id = ?",
        [state, json.dumps(detail) if detail is not None else None, server_seq, utc_now(),
         item_id])


def record_push(store: Store, applied: list[dict[str, Any]],
                problem: dict[str, Any] | None, state: OutboxState = "conflict") -> None:
    """What the server said of a push: applied items, then at most one conflict/refusal."""
    with store.writing():
        for result in applied:
            store.db.execute(
                "UPDATE sync_outbox SET state = 'pushed', server_seq = ?, updated_at = ? "
                "WHERE uuid = ? AND state = 'pending'", [result["seq"], utc_now(), result["id"]])
        if problem is not None:
            row = store.db.execute("SELECT id FROM sync_outbox WHERE uuid = ?",
                                   [problem.get("id")]).fetchone()
            if row is not None:
                _set_state(store, row[0], state, problem)
        # the answer came: whatever is still pending was certainly not applied
        store.db.execute("UPDATE sync_outbox SET sent_at = NULL WHERE state = 'pending'")


def resolve(store: Store, item_id: int, keep: Literal["mine", "theirs"]) -> None:
    """The user's answer to a conflict or refusal: send theirs again over the server's
    current version ("mine"), or keep the server's and discard the queued edit ("theirs").
    A pending edit can be discarded too (the next sync shows the server's version)."""
    row = store.db.execute("SELECT state, sent_at FROM sync_outbox WHERE id = ?",
                           [item_id]).fetchone() if 0 < item_id < 2**62 else None
    if row is None:
        raise NotFound(f"There is no queued edit {item_id}.")
    _refuse_if_sending(row[0], row[1])
    if row[0] not in ("conflict", "refused") and not (keep == "theirs" and row[0] == "pending"):
        raise RuleViolation("That edit is not in conflict" + (
            " (it was sent already)." if row[0] == "pushed" else "."))
    current = link(store)
    with store.writing():
        if keep == "mine":
            store.db.execute(
                "UPDATE sync_outbox SET state = 'pending', base_revision = ?, settled = 0, "
                "sent_at = NULL, updated_at = ? WHERE id = ?",
                [current.cursor if current else 0, utc_now(), item_id])
        else:
            _set_state(store, item_id, "discarded", {"reason": "kept the server's version"})


# --- refresh from the server -----------------------------------------------------------------

def record_feed(store: Store, changes: list[dict[str, Any]]) -> None:
    with store.writing():
        store.db.conn.executemany(
            "INSERT OR IGNORE INTO sync_feed (seq, at, actor, kind, entity, origin) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(c["seq"], c["at"], c["actor"], c["kind"], c["entity"], c.get("origin"))
             for c in changes])


def apply_configuration(store: Store, snapshot: dict[str, Any], actor: str = "local") -> None:
    """Replace the mirror's configuration with the server's rows, then re-apply the edits
    still waiting to go up; one transaction, so a crash leaves the old state whole."""
    db = store.db
    tables = snapshot["tables"]
    current = link(store)
    if current is None:
        raise RuleViolation("This project is not connected to a server.")
    first_refresh = current.cursor == 0
    with store.writing():
        db.execute("PRAGMA defer_foreign_keys = ON")
        if first_refresh:  # a mirror mirrors: the server's fleet replaces any local one
            db.execute("DELETE FROM device_versions")
            db.execute("DELETE FROM devices")
            db.execute("UPDATE sync_link SET fleet_cursor = 0")
        old_cohorts = replace_configuration_rows(
            store, {name: (t["columns"], t["rows"]) for name, t in tables.items()})
        keep_devices_in_their_cohorts(store, old_cohorts)
        refreshed = ProjectService(store).last_operation_id()
        key = snapshot.get("signing_key")
        db.execute("UPDATE sync_link SET cursor = ?, refreshed_op = ?, signing_algorithm = ?, "
                   "signing_public_pem = ?",
                   [snapshot["revision"], refreshed, key["algorithm"] if key else None,
                    key["public_pem"] if key else None])
        _rebase(store, actor)
        _settle(store)  # after the rebase: an edit that no longer applies settles now too


def needs_refresh(store: Store) -> bool:
    """Some queued edit stopped waiting (sent, refused, in conflict or discarded) since the
    last refresh: refresh even if the server did not move, so its local effect goes."""
    return store.db.execute("SELECT 1 FROM sync_outbox WHERE settled = 0 AND "
                            "state != 'pending' LIMIT 1").fetchone() is not None


def _settle(store: Store) -> None:
    """Edits no longer waiting: their configuration effect went with the replaced rows;
    their device effect is re-read from the server (``sync_recheck``, done after the fleet
    pull): the devices a move that did not go up touched, and the staged marks of a cohort
    where this desktop drew some (the server's draw is the one that counts). A move that
    went up needs nothing: the server's change reaches the fleet pull by itself."""
    for state, change in store.db.execute(
            "SELECT state, change FROM sync_outbox WHERE settled = 0 AND state != 'pending'"
            ).fetchall():
        data = json.loads(change)
        if data.get("type") == "MoveDevices" and state != "pushed":
            store.db.conn.executemany(
                "INSERT OR IGNORE INTO sync_recheck (kind, name) VALUES ('device', ?)",
                [(s,) for s in data.get("serials", [])])
        elif data.get("type") == "SetRollout" or (data.get("type") == "Activate"
                                                   and data.get("kind") == "staged"):
            store.db.execute("INSERT OR IGNORE INTO sync_recheck (kind, name) "
                             "VALUES ('staged', ?)", [data.get("cohort", "")])
    store.db.execute("UPDATE sync_outbox SET settled = 1 WHERE settled = 0 AND "
                     "state != 'pending'")


def rechecks(store: Store) -> tuple[list[str], list[str]]:
    """(device serials, cohort slugs) whose state is to be re-read from the server."""
    rows = store.db.execute("SELECT kind, name FROM sync_recheck ORDER BY kind, name")
    serials: list[str] = []
    cohorts: list[str] = []
    for kind, name in rows:
        (serials if kind == "device" else cohorts).append(name)
    return serials, cohorts


def apply_rechecked_devices(store: Store, asked: list[str], rows: list[list[Any]]) -> None:
    """The server's rows for devices this desktop's own edits touched; one the server does
    not have (a local check-in) stays as it is."""
    with store.writing():
        upsert_devices(store, rows)
        store.db.conn.executemany("DELETE FROM sync_recheck WHERE kind = 'device' AND name = ?",
                                  [(s,) for s in asked])


def apply_staged(store: Store, cohort: str, serials: list[str]) -> None:
    """Make the cohort's staged marks the server's."""
    with store.writing():
        row = store.db.execute("SELECT id FROM cohorts WHERE slug = ?", [cohort]).fetchone()
        if row is not None:
            marked = set(serials)
            current = dict(store.db.execute(
                "SELECT serial, staged FROM devices WHERE cohort_id = ?", [row[0]]).fetchall())
            flips = [(int(s in marked), s) for s, staged in current.items()
                     if bool(staged) != (s in marked)]
            store.db.conn.executemany("UPDATE devices SET staged = ? WHERE serial = ?", flips)
        store.db.execute("DELETE FROM sync_recheck WHERE kind = 'staged' AND name = ?",
                         [cohort])


def replace_configuration_rows(store: Store, tables: dict[str, tuple[list[str], list[Any]]]
                               ) -> dict[int, str]:
    """Replace every configuration table with ``tables`` (columns, rows) inside the caller's
    transaction; returns the old cohorts (id -> slug) for keep_devices_in_their_cohorts."""
    db = store.db
    db.execute("PRAGMA defer_foreign_keys = ON")
    old_cohorts = dict(db.execute("SELECT id, slug FROM cohorts").fetchall())
    for name in reversed(CONFIG_TABLES):
        db.execute(f"DELETE FROM {name}")
    for name in CONFIG_TABLES:
        columns, rows = tables[name]
        db.conn.executemany(
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES "
            f"({', '.join('?' * len(columns))})", rows)
    return old_cohorts


def keep_devices_in_their_cohorts(store: Store, old: dict[int, str]) -> None:
    """Devices point at cohorts by id; after the server's rows replaced ours, a device keeps
    its cohort by slug, and one whose cohort is gone (a local cohort the server never took)
    goes to the default cohort rather than pointing at nothing."""
    db = store.db
    new = {slug: cohort_id for cohort_id, slug in db.execute("SELECT id, slug FROM cohorts")}
    default = db.execute("SELECT id FROM cohorts WHERE is_default = 1").fetchone()
    fallback = default[0] if default else None
    # old id -> (new id, whether the device really changed cohort: its staged mark goes)
    moves = {old_id: (new[slug], False) if slug in new else (fallback, True)
             for old_id, slug in old.items() if new.get(slug) != old_id}
    for (cohort_id,) in db.execute("SELECT DISTINCT cohort_id FROM devices WHERE cohort_id "
                                   "NOT IN (SELECT id FROM cohorts)").fetchall():
        moves.setdefault(cohort_id, (fallback, True))
    if not moves:
        return
    # two steps through negative ids, so swapped ids never merge
    for old_id in moves:
        db.execute("UPDATE devices SET cohort_id = ? WHERE cohort_id = ?", [-old_id, old_id])
    for old_id, (new_id, changed) in moves.items():
        if new_id is None:
            raise RuleViolation("The server's project has no default cohort.")
        db.execute(f"UPDATE devices SET cohort_id = ?{', staged = 0' if changed else ''} "
                   "WHERE cohort_id = ?", [new_id, -old_id])


def _rebase(store: Store, actor: str) -> None:
    """Re-apply pending edits on top of the server's state, each in its own savepoint; one
    that no longer applies is marked refused (with the reason) instead of vanishing."""
    service = ProjectService(store, principal=local_principal(store, actor))
    for item in outbox(store, ("pending",)):
        first = service.last_operation_id()
        try:
            with store.db.atomic():
                change_from_json(item.change).apply(service)
        except OtaError as exc:
            _set_state(store, item.id, "refused",
                       {"id": item.uuid, "message": f"No longer applies to the server's "
                                                    f"current project: {exc}"})
            continue
        store.db.execute("UPDATE sync_outbox SET first_op = ?, last_op = ? WHERE id = ?",
                         [first + 1, service.last_operation_id(), item.id])


def apply_devices(store: Store, page: dict[str, Any]) -> int:
    """Upsert one page of the server's fleet and advance the fleet cursor, atomically."""
    with store.writing():
        count = upsert_devices(store, page["devices"])
        store.db.execute("UPDATE sync_link SET fleet_cursor = ?", [page["next"]])
    return count


_REPORTED = ("software_type", "current_version", "attributes")


def upsert_devices(store: Store, devices: list[list[Any]], station: bool = False) -> int:
    """Server device rows into the mirror (inside the caller's transaction). A factory
    station (``station=True``) keeps its own last-seen times, and what a device it has seen
    reported there (version, attributes, software type); the cohort and staged mark are
    always the server's."""
    db = store.db
    cohorts = dict(db.execute("SELECT slug, id FROM cohorts").fetchall())
    keys: dict[str, str] = {}  # fleets share few attribute sets: canonicalize each once
    now = utc_now()
    rows = []
    for serial, cohort, software_type, version, attributes, staged, last_seen in devices:
        cohort_id = cohorts.get(cohort)
        if cohort_id is None:
            raise RuleViolation(f"Device {serial} is in an unknown cohort {cohort!r}; "
                                "refresh the configuration first.")
        key = keys.get(attributes)
        if key is None:
            key = keys[attributes] = attributes_key(json.loads(attributes))
        rows.append((serial, cohort_id, software_type, version, key, int(staged), last_seen,
                     now))
    # new rows get local revisions a page at a time (as add_devices does); updated rows are
    # bumped by the trigger
    rev = int(db.execute("UPDATE fleet_clock SET rev = rev + ? RETURNING rev",
                         [len(rows)]).fetchone()[0]) - len(rows)
    db.conn.executemany(
        "INSERT INTO devices (serial, cohort_id, software_type, current_version, attributes, "
        "staged, last_seen, created_at, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (serial) DO UPDATE SET cohort_id = excluded.cohort_id, "
        "staged = excluded.staged, "
        + (", ".join(f"{c} = CASE WHEN devices.last_seen IS NULL THEN excluded.{c} ELSE "
                     f"devices.{c} END" for c in _REPORTED) if station else
           ", ".join(f"{c} = excluded.{c}" for c in (*_REPORTED, "last_seen"))),
        [(*row, rev + i + 1) for i, row in enumerate(rows)])
    return len(rows)
