"""The matrix as a control surface: the actions a column (Full release), a row (Delta from
that version) or a cell offers, for context menus and the keyboard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ota_desktop.matrix import Column, Row, VersionMatrix
from ota_desktop.model import Activation, Configuration, ReleaseRef, ref_of


@dataclass(frozen=True)
class MatrixAction:
    text: str
    kind: str  # create-full, create-delta, activate, rollout, guard, resume, pull, edit,
    # delete, list
    ref: ReleaseRef | None = None
    version: str = ""
    from_version: str | None = None
    percent: float | None = None


def _active(config: Configuration, cohort: str, ref: ReleaseRef) -> Activation | None:
    return next((a for a in config.activations_in(cohort)
                 if a.release == ref and a.status == "active"), None)


def _release_actions(config: Configuration, cohort: str, ref: ReleaseRef,
                     name: str) -> list[MatrixAction]:
    edits = [MatrixAction(f"Edit {name}…", "edit", ref),
             MatrixAction(f"Delete {name}…", "delete", ref)]
    active = _active(config, cohort, ref)
    if active is None:
        return [MatrixAction(f"Activate {name}…", "activate", ref), *edits]
    actions = []
    if active.paused:
        actions.append(MatrixAction(f"Resume {name}", "resume", ref))
    if active.kind == "staged":
        actions.append(MatrixAction(f"Configure rollout of {name} ({active.rollout_percent:g}%)…",
                                    "rollout", ref, percent=active.rollout_percent))
    actions.append(MatrixAction(f"Pull {name}…", "pull", ref))
    guard = f" ({active.guard.describe()})" if active.guard else ""
    actions.append(MatrixAction(f"Rollout guard of {name}{guard}…", "guard", ref))
    return actions + edits


def column_actions(config: Configuration, matrix: VersionMatrix, column: Column
                   ) -> list[MatrixAction]:
    if column.release is None:
        return [MatrixAction(f"Create Full release {column.version}…", "create-full",
                             version=column.version)]
    return _release_actions(config, matrix.cohort, ref_of(column.release),
                            f"Full release {column.version}")


def row_actions(config: Configuration, matrix: VersionMatrix, row: Row) -> list[MatrixAction]:
    actions = [MatrixAction(f"Create Delta from {row.version}…", "create-delta",
                            from_version=row.version)]
    for delta in row.deltas:
        actions += _release_actions(config, matrix.cohort, ref_of(delta),
                                    f"Delta {delta.from_version}→{delta.to_version}")
    return actions


def build_menu(menu: object, actions: list[MatrixAction],
               trigger: Callable[[MatrixAction], None]) -> None:
    """Fill a QMenu (duck-typed, so this module stays free of Qt)."""
    for action in actions:
        if action.kind == "separator":
            menu.addSeparator()  # type: ignore[attr-defined]
            continue
        item = menu.addAction(action.text)  # type: ignore[attr-defined]
        item.triggered.connect(lambda _checked=False, a=action: trigger(a))
