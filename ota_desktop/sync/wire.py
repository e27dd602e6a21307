"""Changes on the wire: a Change value as JSON and back.

A queued local edit travels as the Change that made it, so the server applies it through its
own service (roles, rules and staged draws on the server's fleet) instead of trusting rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ota_desktop import changes
from ota_desktop.changes import Change, NewPayload
from ota_desktop.errors import BadInput
from ota_desktop.model import ReleaseRef

KINDS: dict[str, type[Any]] = {cls.__name__: cls for cls in (
    changes.Activate, changes.SetRollout, changes.Pull, changes.CreateRelease,
    changes.EditRelease, changes.DeleteRelease, changes.CreateCohort, changes.UpdateCohort,
    changes.MoveDevices, changes.CreateKey, changes.SetKeyOverride)}


def change_to_json(change: Change) -> dict[str, Any]:
    name = type(change).__name__
    if name not in KINDS:
        raise BadInput(f"A {name} cannot be synced.")
    out: dict[str, Any] = {"type": name}
    for f in dataclasses.fields(change):  # type: ignore[arg-type]
        value = getattr(change, f.name)
        if isinstance(value, ReleaseRef):
            value = dataclasses.asdict(value)
        elif f.name == "payloads":
            value = [{**dataclasses.asdict(p), "attributes": dict(p.attributes)} for p in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def change_from_json(data: Any) -> Change:
    """The Change described by ``data``; BadInput for anything that is not one."""
    if not isinstance(data, dict) or data.get("type") not in KINDS:
        raise BadInput(f"change.type is one of {', '.join(sorted(KINDS))}.")
    cls = KINDS[data["type"]]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names - {"type"}
    if unknown:
        raise BadInput(f"Unknown field(s) for a {data['type']}: {', '.join(sorted(unknown))}.")
    kwargs: dict[str, Any] = {}
    try:
        for key, value in data.items():
            if key == "type":
                continue
            if key == "ref":
                value = ReleaseRef(**_object(value, key))
            elif key == "payloads":
                value = tuple(NewPayload(**{**_object(p, key), "attributes":
                                            dict(_object(_object(p, key).get("attributes", {}),
                                                         "attributes"))})
                              for p in _list(value, key))
            elif key == "serials":
                value = tuple(str(s) for s in _list(value, key))
            kwargs[key] = value
        return cls(**kwargs)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise BadInput(f"That {data['type']} is incomplete or malformed ({exc}).") from exc


def _object(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"{key} must be an object.")
    return value


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadInput(f"{key} must be a list.")
    return value
