"""Changes on the wire: a Change value as JSON and back.

A queued local edit travels as the Change that made it, so the server applies it through its
own service (roles, rules and staged draws on the server's fleet) instead of trusting rows.
A pushed change is as untrusted as any request body: every field is checked against the
Change's own annotations before anything is built from it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from ota_desktop import changes
from ota_desktop.changes import Change
from ota_desktop.errors import BadInput

KINDS: dict[str, type[Any]] = {cls.__name__: cls for cls in (
    changes.Activate, changes.SetRollout, changes.Pull, changes.CreateRelease,
    changes.EditRelease, changes.DeleteRelease, changes.CreateCohort, changes.UpdateCohort,
    changes.MoveDevices, changes.CreateKey, changes.SetKeyOverride, changes.SetGuard,
    changes.Resume, changes.Pause)}
MAX_INT = 2**62
MAX_TEXT = 64 * 1024


def change_to_json(change: Change) -> dict[str, Any]:
    name = type(change).__name__
    if name not in KINDS:
        raise BadInput(f"A {name} cannot be synced.")
    return {"type": name, **_plain(change)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def change_from_json(data: Any) -> Change:
    """The Change described by ``data``; BadInput (naming the field) for anything else."""
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadInput(f"change.type is one of {', '.join(sorted(KINDS))}.")
    fields = {k: v for k, v in data.items() if k != "type"}
    return _build(KINDS[kind], fields, "change")  # type: ignore[no-any-return]


def _build(cls: type[Any], data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise BadInput(f"{path} must be an object.")
    hints = typing.get_type_hints(cls)
    unknown = set(data) - set(hints)
    if unknown:
        raise BadInput(f"Unknown field(s) in {path}: {', '.join(sorted(map(str, unknown)))}.")
    kwargs = {key: _value(value, hints[key], f"{path}.{key}") for key, value in data.items()}
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs
               and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise BadInput(f"{path} needs {', '.join(missing)}.")
    return cls(**kwargs)


def _value(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(o for o in options if o is not type(None))
        origin = typing.get_origin(hint)
    if value is None:
        raise BadInput(f"{path} is required.")
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)  # type: ignore[arg-type]
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise BadInput(f"{path} is one of {', '.join(map(str, typing.get_args(hint)))}.")
        return value
    if origin in (tuple, Sequence):
        if not isinstance(value, list):
            raise BadInput(f"{path} must be a list.")
        item = typing.get_args(hint)[0]
        return tuple(_value(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise BadInput(f"{path} must be an object of text values.")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise BadInput(f"{path} must be true or false.")
        return value
    if hint in (int, float):
        allowed = (int, float) if hint is float else (int,)
        if isinstance(value, bool) or not isinstance(value, allowed) or abs(value) > MAX_INT:
            raise BadInput(f"{path} must be a {'number' if hint is float else 'whole number'}"
                           " in range.")
        return value
    if hint is str:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise BadInput(f"{path} must be text (at most {MAX_TEXT // 1024} KiB).")
        return value
    raise BadInput(f"{path} cannot be set in a pushed change.")


__all__ = ["KINDS", "change_from_json", "change_to_json"]
