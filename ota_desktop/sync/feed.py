"""The server's side of sync: the change feed, pushes with conflict detection, and the rows a
mirror refreshes from.

Every recorded operation's id is its server sequence number. A push names the revision it was
based on (the last server sequence its author had seen of that entity); if an operation from
someone else changed the same entity after that, the push is answered with both versions
instead of being applied. Each pushed change carries a client-made id, recorded in the same
transaction as its effect, so a push retried after a crash is never applied twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ota_desktop.auth import Principal
from ota_desktop.errors import BadInput, Forbidden, OtaError
from ota_desktop.service import ProjectService
from ota_desktop.service.base import utc_now
from ota_desktop.service.signing import public_key
from ota_desktop.store.store import Store
from ota_desktop.sync.wire import change_from_json

#: configuration tables a mirror replicates, parents first (devices travel separately)
CONFIG_TABLES = ("project", "software_types", "cohorts", "releases", "delta_releases",
                 "payloads", "activations", "staging_runs", "project_keys")
MAX_PAGE = 5000


def entity_keys(kind: str, entity: str, after: Any) -> set[str]:
    """What an operation touched, for conflict detection: its entity, each moved device, or
    the whole project key (its entity name shows only a prefix)."""
    base = kind.removeprefix("undo.")
    if base == "devices.move":
        serials = after.get("serials", []) if isinstance(after, dict) else []
        return {f"device:{s}" for s in serials}
    if base.startswith("project_key.") and isinstance(after, dict) and "key" in after:
        return {f"project_key:{after['key']}"}
    return {entity}


def server_id(store: Store) -> str:
    """This project file's identity: a mirror notices when its server's file was replaced."""
    return str(store.db.execute("SELECT uuid FROM server_identity").fetchone()[0])


def fingerprint(store: Store, seq: int) -> dict[str, Any] | None:
    """What operation ``seq`` is here: a mirror compares it with what it pulled, to notice a
    server restored from an older copy that has since moved on past its cursor."""
    row = store.db.execute("SELECT id, at, entity FROM operations WHERE id = ?",
                           [seq]).fetchone()
    return {"seq": row[0], "at": row[1], "entity": row[2]} if row else None


def revision(store: Store) -> int:
    return int(store.db.execute("SELECT coalesce(max(id), 0) FROM operations").fetchone()[0])


def changes_after(store: Store, after: int, limit: int) -> dict[str, Any]:
    rows = store.db.execute(
        "SELECT id, at, actor, kind, entity, before, after, origin FROM operations "
        "WHERE id > ? ORDER BY id LIMIT ?", [after, limit + 1]).fetchall()
    more = len(rows) > limit
    items = [{"seq": r[0], "at": r[1], "actor": r[2], "kind": r[3], "entity": r[4],
              "before": json.loads(r[5]) if r[5] else None,
              "after": json.loads(r[6]) if r[6] else None, "origin": r[7]}
             for r in rows[:limit]]
    return {"changes": items, "next": items[-1]["seq"] if items else after, "more": more,
            "revision": revision(store)}


def configuration_rows(store: Store) -> dict[str, Any]:
    """Every configuration row and the revision they are at, read as one snapshot."""
    db = store.db
    with db.atomic():  # one read transaction: rows and revision agree
        tables = {}
        for name in CONFIG_TABLES:
            cursor = db.execute(f"SELECT * FROM {name}")
            columns = [d[0] for d in cursor.description]
            tables[name] = {"columns": columns, "rows": [list(r) for r in cursor]}
        current = revision(store)
        fleet = int(db.execute("SELECT rev FROM fleet_clock").fetchone()[0])
        key = public_key(store)
    return {"revision": current, "fleet_revision": fleet, "tables": tables,
            "signing_key": {"algorithm": key[0], "public_pem": key[1]} if key else None}


def devices_after(store: Store, after: int, limit: int) -> dict[str, Any]:
    rows = store.db.execute(
        "SELECT d.rev, d.serial, c.slug, d.software_type, d.current_version, d.attributes, "
        "d.staged, d.last_seen FROM devices d JOIN cohorts c ON c.id = d.cohort_id "
        "WHERE d.rev > ? ORDER BY d.rev LIMIT ?", [after, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    total = int(store.db.execute("SELECT count(*) FROM devices WHERE rev > ?",
                                 [after]).fetchone()[0]) if after == 0 else None
    return {"devices": [list(r[1:]) for r in rows], "next": rows[-1][0] if rows else after,
            "more": more, "total": total}


_DEVICE_ROW = ("SELECT d.serial, c.slug, d.software_type, d.current_version, d.attributes, "
               "d.staged, d.last_seen FROM devices d JOIN cohorts c ON c.id = d.cohort_id ")


def devices_named(store: Store, serials: list[str]) -> dict[str, Any]:
    """The server's rows for these serials (a mirror re-reads what its own edits touched)."""
    rows = []
    for i in range(0, len(serials), 500):
        chunk = serials[i:i + 500]
        rows += store.db.execute(_DEVICE_ROW + f"WHERE d.serial IN ({', '.join('?' * len(chunk))})",
                                 chunk).fetchall()
    return {"devices": [list(r) for r in rows]}


def staged_in(store: Store, cohort: str) -> dict[str, Any]:
    """The serials the server has staged in ``cohort`` (its draw is the one that counts)."""
    cohort_id = store.cohort_id(cohort)
    return {"cohort": cohort, "serials": [r[0] for r in store.db.execute(
        "SELECT serial FROM devices WHERE cohort_id = ? AND staged = 1 ORDER BY serial",
        [cohort_id])]}


@dataclass
class PushOutcome:
    status: int  # 200 every change applied, 409 a conflict, 400/403 a refusal
    applied: list[dict[str, Any]] = field(default_factory=list)
    problem: dict[str, Any] | None = None


class _Conflict(Exception):
    def __init__(self, server_ops: list[dict[str, Any]]) -> None:
        self.server_ops = server_ops


def push(store: Store, principal: Principal, client: str, items: Any,
         signer: Any = None) -> PushOutcome:
    """Apply queued changes in order; stop at the first that conflicts or is refused."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadInput("changes must be a list of objects.")
    for item in items:  # the whole batch's shape first, so a malformed one changes nothing
        uid, base = item.get("id"), item.get("base_revision")
        if not isinstance(uid, str) or not 8 <= len(uid) <= 64 or not uid.isprintable():
            raise BadInput("Each change needs an id (8 to 64 printable characters).")
        if not isinstance(base, int) or isinstance(base, bool) or not 0 <= base <= 2**62:
            raise BadInput("Each change needs a base_revision (a whole number ≥ 0).")
    if len({i["id"] for i in items}) != len(items):
        raise BadInput("Each change in a push needs its own id.")
    outcome = PushOutcome(200)
    for item in items:
        uid, base = item["id"], item["base_revision"]
        digest = _digest(client, item.get("change"))
        done = store.db.execute("SELECT seq, digest FROM pushed_changes WHERE id = ?",
                                [uid]).fetchone()
        if done is not None:  # a retry after a lost answer: already applied once
            if done[1] != digest:
                outcome.status = 400
                outcome.problem = {"id": uid, "message": "This change id was already used for "
                                                         "a different change."}
                break
            outcome.applied.append({"id": uid, "seq": done[0], "repeated": True})
            continue
        try:
            change = change_from_json(item.get("change"))
            seq = _apply_one(store, principal, client, uid, base, change, digest, signer)
        except _Conflict as conflict:
            outcome.status = 409
            outcome.problem = {"id": uid, "yours": {"description": change.describe(),
                                                    "change": item.get("change"),
                                                    "base_revision": base},
                               "server": {"changes": conflict.server_ops,
                                          "revision": revision(store)}}
            break
        except OtaError as exc:
            outcome.status = 403 if isinstance(exc, Forbidden) else 400
            outcome.problem = {"id": uid, "message": str(exc)}
            break
        outcome.applied.append({"id": uid, "seq": seq})
    return outcome


def _digest(client: str, change: Any) -> str:
    """What a change id stands for: the same id must always mean the same change from the
    same client (a retry), never a different one."""
    text = json.dumps([client, change], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _apply_one(store: Store, principal: Principal, client: str, uid: str, base: int,
               change: Any, digest: str, signer: Any = None) -> int:
    db = store.db
    first = revision(store)
    try:
        with db.atomic():  # a conflict raises out of it, so nothing of the change stays
            change.apply(ProjectService(store, principal=principal, signer=signer))
            mine = db.execute("SELECT kind, entity, after FROM operations WHERE id > ?",
                              [first]).fetchall()
            keys: set[str] = set()
            for kind, entity, after in mine:
                keys |= entity_keys(kind, entity, json.loads(after) if after else None)
            theirs = []
            for seq, at, actor, kind, entity, before, after in db.execute(
                "SELECT id, at, actor, kind, entity, before, after FROM operations "
                "WHERE id > ? AND id <= ? AND coalesce(origin, '') != ? ORDER BY id",
                [base, first, client]):
                after_value = json.loads(after) if after else None
                if entity_keys(kind, entity, after_value) & keys:
                    theirs.append({"seq": seq, "at": at, "actor": actor, "kind": kind,
                                   "entity": entity,
                                   "before": json.loads(before) if before else None,
                                   "after": after_value})
            if theirs:
                raise _Conflict(theirs)
            db.execute("UPDATE operations SET origin = ? WHERE id > ?", [client, first])
            seq = revision(store)
            db.execute("INSERT INTO pushed_changes (id, client, seq, at, digest) "
                       "VALUES (?, ?, ?, ?, ?)", [uid, client, seq, utc_now(), digest])
        return seq
    except (TypeError, ValueError, AttributeError, OverflowError, sqlite3.IntegrityError,
            sqlite3.InterfaceError, sqlite3.ProgrammingError) as exc:
        raise BadInput(f"That change cannot be applied here ({exc}).") from exc
