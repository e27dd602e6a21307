"""What-if previews: the matrix cells a proposed change moves, before it is applied.

A preview applies the change for real inside a transaction, recomputes the matrix with the
same resolver, and rolls back. Staged draws use the change's seed, so applying the change
afterwards gives exactly the previewed counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ota_desktop.changes import Activate, Change, Pull, SetRollout, new_seed
from ota_desktop.matrix import VersionMatrix
from ota_desktop.queries import matrix_for
from ota_desktop.service import ProjectService
from ota_desktop.store.store import Store


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


__all__ = ["Activate", "CellMove", "Change", "Pull", "SetRollout", "WhatIf", "diff",
           "new_seed", "preview"]


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
