"""The service base: one transaction per mutation, recorded as an operation."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ota_desktop.auth import Principal, may_change_activations, may_edit
from ota_desktop.errors import Forbidden, NotFound
from ota_desktop.model import ReleaseRef
from ota_desktop.store.store import Store

Clock = Callable[[], str]


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class Operation:
    kind: str
    entity: str
    before: Any = None
    after: Any = None
    id: int | None = None


MANAGER_ONLY = ("user.", "token.", "project.", "software_type.")


class ServiceBase:
    def __init__(self, store: Store, actor: str = "local", clock: Clock = utc_now,
                 principal: Principal | None = None, signer: Any = None) -> None:
        self.store = store
        #: the unlocked project signing key, when payloads are to be signed as they are added
        self.signer = signer
        self.db = store.db
        self.principal = principal or Principal(actor)
        self.actor = self.principal.name
        self.clock = clock

    def _authorize(self, kind: str, entity: str) -> None:
        """Every mutation passes here: the one place roles and tokens are enforced."""
        base = kind.removeprefix("undo.")
        who = self.principal
        if base.startswith("activation."):
            cohort = entity.split(":", 1)[1].split("/", 1)[0]
            row = self.db.execute("SELECT protected FROM cohorts WHERE slug = ?",
                                  [cohort]).fetchone()
            if not may_change_activations(who, bool(row and row[0])):
                raise Forbidden(
                    f"{'This token' if who.is_token else who.name} may not change "
                    f"activations in cohort {cohort}: "
                    + ("it is protected and the token was not permitted to." if who.is_token
                       else "only managers can."))
        elif base.startswith(MANAGER_ONLY):
            if who.is_token or who.role != "manager":
                raise Forbidden(f"Only a manager may do that ({base}).")
        elif not may_edit(who):
            raise Forbidden(f"{who.name} is a reader and cannot change the project.")

    @contextmanager
    def operation(self, kind: str, entity: str, before: Any = None) -> Iterator[Operation]:
        """One transaction that ends by recording the operation; nested calls nest as
        savepoints, so a composite change (an import) is still all-or-nothing."""
        self._authorize(kind, entity)
        op = Operation(kind, entity, before)
        with self.db.atomic():
            yield op
            self.db.execute(
                "INSERT INTO operations (at, actor, kind, entity, before, after) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [self.clock(), self.actor, op.kind, op.entity,
                 None if op.before is None else json.dumps(op.before),
                 None if op.after is None else json.dumps(op.after)],
            )

    def _check_version(self, version: str) -> None:
        self.store.project().scheme.precedence(version)

    def _require_software_type(self, name: str) -> None:
        if not self.db.execute("SELECT 1 FROM software_types WHERE name = ?", [name]).fetchone():
            raise NotFound(f"There is no software type {name!r} in this project.")

    def _release_id(self, ref: ReleaseRef) -> tuple[str, int]:
        if ref.is_delta:
            row = self.db.execute(
                "SELECT id FROM delta_releases WHERE software_type = ? AND from_version = ? "
                "AND to_version = ?", [ref.software_type, ref.from_version, ref.to_version],
            ).fetchone()
            if row is None:
                raise NotFound(f"There is no Delta release {ref.from_version}→{ref.to_version} "
                               f"of {ref.software_type}.")
            return "delta_release_id", int(row[0])
        row = self.db.execute("SELECT id FROM releases WHERE software_type = ? AND version = ?",
                              [ref.software_type, ref.version]).fetchone()
        if row is None:
            raise NotFound(f"There is no Full release {ref.version} of {ref.software_type}.")
        return "release_id", int(row[0])

