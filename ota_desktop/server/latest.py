"""The Latest Release endpoint, exactly as the published device SDKs call it.

    GET /api/v0/releases/latest?device_serial=&hardware_version=&software_type=&current_version=
    GET /api/v0/releases/latest/url?…   (the bare download URL)
    header Memfault-Project-Key
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ota_desktop.model import DeltaRelease, Payload, Query
from ota_desktop.resolver import Decision
from ota_desktop.server.checkins import check_in
from ota_desktop.server.state import ServerState, base_url, error, serial_problem

KEY_HEADER = "memfault-project-key"


def artifact_url(request: Request, payload: Payload) -> str:
    return f"{base_url(request)}/api/v0/artifacts/{payload.id}/{quote(payload.filename)}"


def _decide(request: Request) -> tuple[Decision | None, Response | None]:
    state: ServerState = request.app.state.ota
    config = state.config()
    key = request.headers.get(KEY_HEADER)
    if not key or config.project_key(key) is None:
        return None, error(403, "A valid Memfault-Project-Key header is required.",
                           "forbidden")
    params = request.query_params
    serial = params.get("device_serial", "").strip()
    if not serial:
        return None, error(400, "device_serial is required.")
    why = serial_problem(serial)
    if why:
        return None, error(400, f"device_serial {why}.")
    software_type = params.get("software_type") or (
        config.software_types[0] if len(config.software_types) == 1 else "")
    if software_type not in config.software_types:
        return None, error(400, f"Unknown software_type {software_type!r}.")
    hardware = params.get("hardware_version", "")
    if not hardware or hardware not in state.known_hardware(config, software_type):
        return None, error(400, f"Unknown hardware_version {hardware!r}.")
    current = params.get("current_version") or params.get("software_version") or None
    if current is not None:
        problem = state.version_problem(config, current)
        if problem is not None:
            return None, error(400, problem)
    stored = state.device(serial)
    attributes = {**(stored.attributes if stored else {}), "hardware_version": hardware}
    query = Query(serial, software_type, current, attributes, key)
    decision = state.decide(query, stored.state() if stored else None, config)
    state.writer.put(check_in(serial, stored, software_type, current,
                              {"hardware_version": hardware}))
    state.counters.add(checkins=1)
    return decision, None


def release_json(request: Request, decision: Decision) -> dict[str, Any]:
    release = decision.release
    payload = decision.payload
    assert release is not None and payload is not None
    is_delta = isinstance(release, DeltaRelease)
    return {
        "id": f"{'delta' if is_delta else 'release'}-{release.id}",
        "version": decision.target_version,
        "revision": release.revision,
        "notes": release.notes,
        "is_delta": is_delta,
        "must_pass_through": not is_delta and release.must_pass_through,  # type: ignore[union-attr]
        "reason": decision.reason,
        "artifacts": [{
            "id": payload.id, "type": "delta" if is_delta else "full",
            "hardware_version": payload.attributes.get("hardware_version", ""),
            "filename": payload.filename, "file_size": payload.size, "md5": payload.md5,
            "sha1": payload.sha1, "sha256": payload.sha256, "url": artifact_url(request, payload),
            # base64 signature of the file's sha256 by the project signing key (or null);
            # the key is at /api/v0/signing-key.pem, the detached form at url + ".sig"
            "signature": payload.signature,
            "signature_url": artifact_url(request, payload) + ".sig"
            if payload.signature else None,
        }],
    }


async def latest(request: Request) -> Response:
    """The release this device should install next.
    ---
    responses:
      200: {description: a release with its artifact}
      204: {description: the device is up to date}
      400: {description: missing serial, unknown hardware version or software type}
      403: {description: missing or unknown project key}
    """
    decision, problem = _decide(request)
    if problem is not None:
        return problem
    assert decision is not None
    if not decision.update:
        return Response(status_code=204)
    return JSONResponse(release_json(request, decision))


async def latest_url(request: Request) -> Response:
    """The bare download URL of the release this device should install next, or 204.
    ---
    responses:
      200: {description: the URL as text}
      204: {description: up to date}
    """
    decision, problem = _decide(request)
    if problem is not None:
        return problem
    assert decision is not None
    if not decision.update or decision.payload is None:
        return Response(status_code=204)
    return PlainTextResponse(artifact_url(request, decision.payload))
