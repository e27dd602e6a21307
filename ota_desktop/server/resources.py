"""The rest of the management API: releases, delta releases, cohorts (with device moves),
devices and project keys. Reads are open to every role; every change is a Change value
applied through ProjectService as the caller, exactly like a desktop's pushed edit.

    GET   …/releases[?software_type]            GET/PATCH …/releases/{version}
    GET   …/delta-releases[?software_type]
    GET   …/cohorts   POST …/cohorts            PATCH …/cohorts/{slug}
    POST  …/cohorts/{slug}/devices {"serials": [...]}
    GET   …/devices?cohort=&after_serial=&limit=    GET …/devices/{serial}
    GET   …/project-keys   POST …/project-keys   PATCH …/project-keys/{key}
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ota_desktop import changes
from ota_desktop.auth import Principal
from ota_desktop.changes import Change
from ota_desktop.errors import BadInput, OtaError
from ota_desktop.model import Cohort, ReleaseRef
from ota_desktop.server.management import principal, refusal
from ota_desktop.server.state import ServerState, error, json_or_error

DEVICE_PAGE = 1000


def _ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"data": data}, status_code=status)


async def _caller(request: Request) -> tuple[ServerState, Principal] | Response:
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    return who if isinstance(who, Response) else (state, who)


async def _body(request: Request, limit: int = 1024 * 1024) -> dict[str, Any] | Response:
    body, bad = json_or_error(await request.body(), limit=limit)
    if bad is not None:
        return bad
    if not isinstance(body, dict):
        return error(400, "The request must be a JSON object.")
    return body


def _apply(state: ServerState, who: Principal, change: Change) -> Response | None:
    try:
        change.apply(state.service(who))
    except OtaError as exc:
        return refusal(exc)
    except (TypeError, ValueError, OverflowError) as exc:
        return error(400, f"Malformed request ({exc}).")
    return None


def _fields(body: dict[str, Any], allowed: dict[str, type | tuple[type, ...]]
            ) -> dict[str, Any]:
    """The body's fields, each of the allowed type (bool is not an int here)."""
    unknown = set(body) - set(allowed)
    if unknown:
        raise BadInput(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for key, kind in allowed.items():
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else
                                                    (kind,)):
            raise BadInput(f"{key} must be a {_type_name(kind)}.")
        if not isinstance(value, kind):
            raise BadInput(f"{key} must be a {_type_name(kind)}.")
    return {k: v for k, v in body.items() if v is not None}


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({str: "string", bool: "boolean", int: "whole number",
                        float: "number", list: "list"}.get(k, k.__name__) for k in kinds)


# --- releases ----------------------------------------------------------------------------------

def _release_json(release: Any) -> dict[str, Any]:
    out = {k: v for k, v in dataclasses.asdict(release).items() if k != "payloads"}
    out["payloads"] = [{k: v for k, v in dataclasses.asdict(p).items()}
                       for p in release.payloads]
    return out


async def _listing(request: Request, deltas: bool) -> Response:
    """Full (or Delta) releases, optionally of one software type."""
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, _ = caller
    wanted = request.query_params.get("software_type")
    config = state.config()
    found = config.delta_releases if deltas else config.releases
    return _ok([_release_json(r) for r in found
                if wanted is None or r.software_type == wanted])


async def releases(request: Request) -> Response:
    return await _listing(request, deltas=False)


async def delta_releases(request: Request) -> Response:
    return await _listing(request, deltas=True)


async def release(request: Request) -> Response:
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, who = caller
    config = state.config()
    software_type = request.query_params.get("software_type") or (
        config.software_types[0] if config.software_types else "")
    ref = ReleaseRef(software_type, version=request.path_params["version"])
    found = config.find_release(ref)
    if found is None:
        return error(404, f"There is no Full release {ref.version} of {software_type}.",
                     "not_found")
    if request.method == "GET":
        return _ok(_release_json(found))
    body = await _body(request)
    if isinstance(body, Response):
        return body
    try:
        fields = _fields(body, {"notes": str, "revision": str, "must_pass_through": bool})
    except BadInput as exc:
        return error(400, str(exc))
    refused = _apply(state, who, changes.EditRelease(ref, **fields))
    return refused or _ok(_release_json(state.config().find_release(ref)))


# --- cohorts -----------------------------------------------------------------------------------

def _cohort_json(cohort: Cohort, devices: int) -> dict[str, Any]:
    return {**dataclasses.asdict(cohort), "device_count": devices}


def _cohort_counts(state: ServerState) -> dict[str, int]:
    return dict(state.store.db.execute(
        "SELECT c.slug, count(d.id) FROM cohorts c LEFT JOIN devices d ON d.cohort_id = c.id "
        "GROUP BY c.slug").fetchall())


COHORT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str, "disable_version_checking": bool, "protected": bool,
    "polling_interval_s": int}


async def cohorts(request: Request) -> Response:
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, who = caller
    if request.method == "GET":
        counts = _cohort_counts(state)
        return _ok([_cohort_json(c, counts.get(c.slug, 0)) for c in state.config().cohorts])
    body = await _body(request)
    if isinstance(body, Response):
        return body
    try:
        fields = _fields(body, {"slug": str, **COHORT_FIELDS})
        if "slug" not in fields:
            raise BadInput("slug is required.")
    except BadInput as exc:
        return error(400, str(exc))
    refused = _apply(state, who, changes.CreateCohort(**fields))
    if refused:
        return refused
    created = next(c for c in state.config().cohorts if c.slug == fields["slug"])
    return _ok(_cohort_json(created, 0), status=201)


async def cohort(request: Request) -> Response:
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, who = caller
    slug = request.path_params["slug"]
    if request.method == "GET":
        found = next((c for c in state.config().cohorts if c.slug == slug), None)
        if found is None:
            return error(404, f"There is no cohort {slug!r}.", "not_found")
        return _ok(_cohort_json(found, _cohort_counts(state).get(slug, 0)))
    body = await _body(request)
    if isinstance(body, Response):
        return body
    try:
        fields = _fields(body, COHORT_FIELDS)
    except BadInput as exc:
        return error(400, str(exc))
    refused = _apply(state, who, changes.UpdateCohort(slug, **fields))
    if refused:
        return refused
    updated = next(c for c in state.config().cohorts if c.slug == slug)
    return _ok(_cohort_json(updated, _cohort_counts(state).get(slug, 0)))


async def cohort_devices(request: Request) -> Response:
    """Move devices (by serial) into this cohort."""
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, who = caller
    body = await _body(request, limit=16 * 1024 * 1024)
    if isinstance(body, Response):
        return body
    serials = body.get("serials")
    if not isinstance(serials, list) or not serials or not all(
            isinstance(s, str) and s for s in serials):
        return error(400, "serials is a non-empty list of device serials.")
    slug = request.path_params["slug"]
    try:
        result = state.service(who).move_devices(serials, slug)
    except OtaError as exc:
        return refusal(exc)
    return _ok(dataclasses.asdict(result))


# --- devices -----------------------------------------------------------------------------------

def _device_json(row: Any) -> dict[str, Any]:
    return {"serial": row.serial, "cohort": row.cohort, "software_type": row.software_type,
            "current_version": row.current_version, "attributes": row.attributes,
            "hardware_version": row.attributes.get("hardware_version"),
            "last_seen": row.last_seen}


async def devices(request: Request) -> Response:
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, _ = caller
    params = request.query_params
    try:
        limit = int(params.get("limit", str(DEVICE_PAGE)))
    except ValueError:
        return error(400, "limit is a whole number.")
    if not 0 < limit <= DEVICE_PAGE:
        return error(400, f"limit is between 1 and {DEVICE_PAGE}.")
    where, args = ["d.serial > ?"], [params.get("after_serial", "")]
    if params.get("cohort"):
        where.append("c.slug = ?")
        args.append(params["cohort"])
    rows = state.store.db.execute(
        "SELECT d.serial FROM devices d JOIN cohorts c ON c.id = d.cohort_id WHERE "
        + " AND ".join(where) + " ORDER BY d.serial LIMIT ?", [*args, limit + 1]).fetchall()
    serials = [r[0] for r in rows[:limit]]
    found = state.store.devices_by_serial(serials)
    return _ok({"devices": [_device_json(found[s]) for s in serials if s in found],
                "next_serial": serials[-1] if len(rows) > limit else None})


async def device(request: Request) -> Response:
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, _ = caller
    row = state.store.device(request.path_params["serial"])
    if row is None:
        return error(404, "There is no device with that serial.", "not_found")
    return _ok({**_device_json(row), "history": [
        {"reported_at": at, "version": v} for at, v in state.store.device_history(row.serial)]})


# --- project keys ------------------------------------------------------------------------------

async def project_keys(request: Request) -> Response:
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, who = caller
    if request.method == "GET":
        return _ok([dataclasses.asdict(k) for k in state.config().project_keys])
    body = await _body(request)
    if isinstance(body, Response):
        return body
    try:
        fields = _fields(body, {"key": str, "cohort_override": str})
    except BadInput as exc:
        return error(400, str(exc))
    if "key" in fields and not fields["key"].strip():
        return error(400, "key cannot be empty (leave it out for a random one).")
    key = fields.get("key") or secrets.token_hex(16)
    override = fields.get("cohort_override") or None
    refused = _apply(state, who, changes.CreateKey(key, override))
    return refused or _ok({"key": key, "cohort_override": override}, 201)


async def project_key(request: Request) -> Response:
    caller = await _caller(request)
    if isinstance(caller, Response):
        return caller
    state, who = caller
    key = request.path_params["key"]
    if not any(k.key == key for k in state.config().project_keys):
        return error(404, "There is no such project key.", "not_found")
    body = await _body(request)
    if isinstance(body, Response):
        return body
    try:
        fields = _fields(body, {"cohort_override": str})
    except BadInput as exc:
        return error(400, str(exc))
    override = fields.get("cohort_override") or None
    refused = _apply(state, who, changes.SetKeyOverride(key, override))
    return refused or _ok({"key": key, "cohort_override": override})
