"""What-if previews: the matrix cells a proposed change moves, before it is applied.

A preview applies the change for real inside a transaction, recomputes the matrix with the
same resolver, and rolls back. Staged draws use the change's seed, so applying the change
afterwards gives exactly the previewed counts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from ota_desktop.matrix import VersionMatrix
from ota_desktop.model import ActivationKind, ReleaseRef
from ota_desktop.queries import matrix_for
from ota_desktop.service import ProjectService
from ota_desktop.store.store import Store


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


class Change(Protocol):
    """A proposed edit of one cohort's configuration."""

    @property
    def cohort(self) -> str: ...

    @property
    def software_type(self) -> str: ...

    def describe(self) -> str: ...

    def apply(self, service: ProjectService) -> None: ...


def _release_name(ref: ReleaseRef) -> str:
    if ref.is_delta:
        return f"Delta {ref.from_version}→{ref.to_version}"
    return f"Full release {ref.version}"


@dataclass(frozen=True)
class Activate:
    ref: ReleaseRef
    cohort: str
    kind: ActivationKind = "normal"
    rollout_percent: float | None = None
    seed: int = field(default_factory=new_seed)

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        how = (f"as a staged rollout at {self.rollout_percent:g}%" if self.kind == "staged"
               else "for every device")
        return f"Activate {_release_name(self.ref)} in {self.cohort} {how}"

    def apply(self, service: ProjectService) -> None:
        service.activate(self.ref, self.cohort, kind=self.kind,
                         rollout_percent=self.rollout_percent, seed=self.seed)


@dataclass(frozen=True)
class SetRollout:
    ref: ReleaseRef
    cohort: str
    rollout_percent: float
    seed: int = field(default_factory=new_seed)

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        return (f"Set the staged rollout of {_release_name(self.ref)} in {self.cohort} to "
                f"{self.rollout_percent:g}%")

    def apply(self, service: ProjectService) -> None:
        service.set_rollout_percent(self.ref, self.cohort, self.rollout_percent, seed=self.seed)


@dataclass(frozen=True)
class Pull:
    ref: ReleaseRef
    cohort: str

    @property
    def software_type(self) -> str:
        return self.ref.software_type

    def describe(self) -> str:
        return f"Pull (abort) {_release_name(self.ref)} in {self.cohort}"

    def apply(self, service: ProjectService) -> None:
        service.deactivate(self.ref, self.cohort)


@dataclass(frozen=True)
class CellMove:
    row: str
    column: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class WhatIf:
    description: str
    before: VersionMatrix
    after: VersionMatrix
    moves: tuple[CellMove, ...]

    @property
    def devices_moved(self) -> int:
        """Devices whose very next step changes (each counted once)."""
        return sum(m.delta for m in self.moves if m.delta > 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "change": self.description,
            "cohort": self.after.cohort,
            "software_type": self.after.software_type,
            "devices_moved": self.devices_moved,
            "cells": [{"row": m.row, "column": m.column, "before": m.before, "after": m.after}
                      for m in self.moves],
            "final_targets": {"before": list(self.before.final_targets),
                              "after": list(self.after.final_targets)},
        }


class _Rollback(Exception):
    pass


def preview(store: Store, change: Change, actor: str = "local") -> WhatIf:
    """The cells ``change`` would move; raises the same BadInput the change itself would."""
    before = matrix_for(store, change.cohort, change.software_type)
    after: VersionMatrix | None = None
    try:
        with store.db.atomic():
            change.apply(ProjectService(store, actor=actor))
            after = matrix_for(store, change.cohort, change.software_type)
            raise _Rollback
    except _Rollback:
        pass
    assert after is not None
    return WhatIf(change.describe(), before, after, tuple(diff(before, after)))


def diff(before: VersionMatrix, after: VersionMatrix) -> list[CellMove]:
    def counts(m: VersionMatrix) -> dict[tuple[str, str], int]:
        return {(r.version, c): cell.count for r in m.rows for c, cell in r.cells.items()}

    old, new = counts(before), counts(after)
    order = {r.version: i for i, r in enumerate(after.rows)}
    keys = sorted(set(old) | set(new), key=lambda k: (order.get(k[0], len(order)), k))
    return [CellMove(r, c, old.get((r, c), 0), new.get((r, c), 0)) for r, c in keys
            if old.get((r, c), 0) != new.get((r, c), 0)]
