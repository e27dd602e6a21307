"""A subset of the hawkBit Direct Device Integration API, over the same resolver.

    /api/v0/hawkbit/{tenant}/controller/v1/{controllerId}
        GET                                   base poll (sleep, links)
        GET  deploymentBase/{actionId}        the update to install
        POST deploymentBase/{actionId}/feedback
        PUT  configData                       the device's attributes (merge)
        GET  cancelAction/{actionId}          stop an update that is no longer wanted
        POST cancelAction/{actionId}/feedback
        GET  softwaremodules/{id}/artifacts/{filename}

Auth: ``Authorization: GatewayToken <project key>`` or ``TargetToken <device token>``.
The controller id is the device serial. Action ids are stable strings derived from the device
and the release offered, so a poll needs no write; hawkBit clients treat them as opaque.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ota_desktop.model import Configuration, DeltaRelease, Query
from ota_desktop.resolver import Decision
from ota_desktop.server.checkins import ActionOffered, CheckIn, Feedback, check_in
from ota_desktop.server.state import (
    ServerState,
    base_url,
    error,
    json_or_error,
    parse_id,
    serial_problem,
    text_problem,
)
from ota_desktop.store.store import DeviceRow

EXECUTIONS = {"closed", "proceeding", "canceled", "scheduled", "rejected", "resumed",
              "downloaded", "download"}
FINISHED = {"success", "failure", "none"}
VERSION_KEYS = ("software_version", "sw_version", "version")
MAX_ATTRIBUTES = 100
DDI_PREFIX = "/api/v0/hawkbit"


@functools.cache
def _sleep(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def action_id_for(serial: str, decision: Decision) -> str:
    release, payload = decision.release, decision.payload
    assert release is not None and payload is not None
    kind = "d" if isinstance(release, DeltaRelease) else "f"
    digest = hashlib.sha1(f"{serial}|{kind}{release.id}|{payload.id}".encode()).hexdigest()
    # SWUpdate parses action ids as a C int: keep them positive 31-bit numbers
    return str(int(digest[:8], 16) & 0x7FFFFFFF or 1)


def _auth(request: Request, state: ServerState,
          config: Configuration | None = None) -> tuple[str | None, Response | None]:
    """The project key to resolve with (None for a target token), or a 401."""
    why = serial_problem(request.path_params["controller_id"])
    if why:
        return None, error(400, f"The controller id {why}.")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    config = config or state.config()
    if scheme.lower() == "gatewaytoken" and token and config.project_key(token) is not None:
        return token, None
    if scheme.lower() == "targettoken" and token:
        row = state.store.db.execute("SELECT serial FROM target_tokens WHERE token = ?",
                                     [token]).fetchone()
        if row is not None and row[0] == request.path_params["controller_id"]:
            return None, None
    return None, error(401, "Authorization: GatewayToken <project key> or TargetToken "
                            "<device token> is required.", "unauthorized")


def _decide(request: Request, state: ServerState, key: str | None,
            stored: DeviceRow | None | bool = False,
            config: Configuration | None = None) -> Decision:
    config = config or state.config()
    serial = request.path_params["controller_id"]
    if stored is False:
        stored = state.device(serial)
    assert stored is None or isinstance(stored, DeviceRow)
    software_type = stored.software_type if stored else config.software_types[0]
    current = stored.current_version or None if stored else None
    query = Query(serial, software_type, current, stored.attributes if stored else {}, key)
    return state.decide(query, stored.state() if stored else None, config)


def _base(request: Request) -> str:
    """The controller's own URL (built by hand: url_for walks every route)."""
    p = request.path_params
    return f"{base_url(request)}{DDI_PREFIX}/{p['tenant']}/controller/v1/{p['controller_id']}"


async def base_poll(request: Request) -> Response:
    """hawkBit base poll: the polling interval and what the device should do next.
    ---
    responses:
      200: {description: config.polling.sleep and _links}
      401: {description: missing or bad GatewayToken / TargetToken}
    """
    state: ServerState = request.app.state.ota
    config = state.config()
    key, problem = _auth(request, state, config)
    if problem is not None:
        return problem
    serial = request.path_params["controller_id"]
    stored = state.device(serial)
    decision = _decide(request, state, key, stored, config)
    state.writer.put(check_in(serial, stored, stored.software_type if stored else "", None, {}))
    state.counters.add(checkins=1)
    cohort = config.cohort(decision.effective_cohort) or config.default_cohort
    links: dict[str, Any] = {}
    base = _base(request)
    open_action = state.open_actions.get(serial)
    if decision.update:
        action_id = action_id_for(serial, decision)
        if open_action is not None and open_action != action_id:
            links["cancelAction"] = {"href": f"{base}/cancelAction/{open_action}"}
        elif (serial, action_id) not in state.closed_actions:
            digest = hashlib.sha1(action_id.encode()).hexdigest()[:8]
            links["deploymentBase"] = {"href": f"{base}/deploymentBase/{action_id}?c={digest}"}
    elif open_action is not None:
        links["cancelAction"] = {"href": f"{base}/cancelAction/{open_action}"}
    if stored is None or not stored.attributes:
        links["configData"] = {"href": f"{base}/configData"}
    return JSONResponse({"config": {"polling": {"sleep": _sleep(cohort.polling_interval_s)}},
                         "_links": links})


async def deployment_base(request: Request) -> Response:
    """The deployment for an action: chunks with artifacts, hashes and download links.
    ---
    responses:
      200: {description: the deployment}
      404: {description: no such action for this device (any more)}
    """
    state: ServerState = request.app.state.ota
    key, problem = _auth(request, state)
    if problem is not None:
        return problem
    serial = request.path_params["controller_id"]
    action_id = request.path_params["action_id"]
    decision = _decide(request, state, key)
    if not decision.update or action_id_for(serial, decision) != action_id:
        return error(404, f"Action {action_id} is not open for {serial}.", "not_found")
    release, payload = decision.release, decision.payload
    assert release is not None and payload is not None
    version = decision.target_version
    assert version is not None
    if state.open_actions.get(serial) != action_id:
        state.open_actions[serial] = action_id
        state.action_targets[(serial, action_id)] = version
        state.writer.put(ActionOffered(action_id, serial, release.label, version, payload.id,
                                       cohort=decision.effective_cohort))
    base = _base(request)
    href = f"{base}/softwaremodules/{payload.id}/artifacts/{payload.filename}"
    return JSONResponse({
        "id": action_id,
        "deployment": {
            "download": "forced", "update": "forced",
            "chunks": [{
                "part": "os", "name": release.software_type, "version": version,
                "artifacts": [{
                    "filename": payload.filename, "size": payload.size,
                    "hashes": {"sha1": payload.sha1, "md5": payload.md5,
                               "sha256": payload.sha256},
                    "_links": {"download": {"href": href}, "download-http": {"href": href},
                               "md5sum": {"href": href + ".MD5SUM"},
                               "md5sum-http": {"href": href + ".MD5SUM"}},
                }],
            }],
        },
    })


def _parse_feedback(body: Any, action_id: str) -> tuple[dict[str, Any] | None, str]:
    if not isinstance(body, dict):
        return None, "The feedback must be a JSON object."
    if "id" in body and str(body["id"]) != action_id:
        return None, f"The feedback's id {body['id']!r} does not match action {action_id}."
    status = body.get("status")
    if not isinstance(status, dict):
        return None, "status is required."
    execution = status.get("execution")
    if not isinstance(execution, str) or execution not in EXECUTIONS:
        return None, f"status.execution must be one of {', '.join(sorted(EXECUTIONS))}."
    result = status.get("result") or {}
    if not isinstance(result, dict):
        return None, "status.result must be an object."
    finished = result.get("finished", "none")
    if not isinstance(finished, str) or finished not in FINISHED:
        return None, "status.result.finished must be success, failure or none."
    details = status.get("details") or []
    if not isinstance(details, list):
        details = [details]
    return {"execution": execution, "finished": finished, "progress": result.get("progress"),
            "details": [str(d)[:2000] for d in details[:100]]}, ""


async def _read_feedback(request: Request, state: ServerState
                         ) -> Response | tuple[str, str, dict[str, Any]]:
    """Authenticate, read and check a feedback body: (serial, action id, feedback) or the
    4xx to answer."""
    _key, problem = _auth(request, state)
    if problem is not None:
        return problem
    body, bad = json_or_error(await request.body())
    if bad is not None:
        return bad
    action_id = request.path_params["action_id"]
    parsed, why = _parse_feedback(body, action_id)
    if parsed is None:
        return error(400, why)
    return request.path_params["controller_id"], action_id, parsed


async def deployment_feedback(request: Request) -> Response:
    """Progress and result of a deployment (any progress shape is accepted).
    ---
    responses:
      200: {description: recorded}
      400: {description: malformed feedback}
    """
    state: ServerState = request.app.state.ota
    read = await _read_feedback(request, state)
    if isinstance(read, Response):
        return read
    serial, action_id, parsed = read
    new_version = None
    if parsed["execution"] == "closed":
        state.closed_actions.add((serial, action_id))
        if state.open_actions.get(serial) == action_id:
            del state.open_actions[serial]
        if parsed["finished"] == "success":
            new_version = state.action_targets.get((serial, action_id))
    state.writer.put(Feedback(serial, action_id, "deployment", parsed["execution"],
                              parsed["finished"], parsed["progress"], parsed["details"],
                              new_version))
    return JSONResponse({})


async def config_data(request: Request) -> Response:
    """The device's attributes (hardware version …), merged by default.
    ---
    responses:
      200: {description: stored}
      400: {description: malformed}
    """
    state: ServerState = request.app.state.ota
    _key, problem = _auth(request, state)
    if problem is not None:
        return problem
    body, bad = json_or_error(await request.body())
    if bad is not None:
        return bad
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return error(400, "configData needs {\"data\": {…}}.")
    mode = body.get("mode", "merge")
    if mode not in ("merge", "replace", "remove"):
        return error(400, "mode must be merge, replace or remove.")
    if len(body["data"]) > MAX_ATTRIBUTES:
        return error(400, f"configData holds at most {MAX_ATTRIBUTES} attributes.")
    data = {str(k)[:128]: str(v)[:256] for k, v in body["data"].items()}
    if any(text_problem(k) or text_problem(v) for k, v in data.items()):
        return error(400, "configData keys and values must be printable Unicode text.")
    serial = request.path_params["controller_id"]
    version = next((data.pop(k) for k in VERSION_KEYS if k in data), None)
    if version is not None:
        invalid = state.version_problem(state.config(), version)
        if invalid is not None:
            return error(400, invalid)
    stored = state.device(serial)
    if mode == "remove":
        attributes = {k: v for k, v in (stored.attributes if stored else {}).items()
                      if k not in data}
        event = CheckIn(serial, "", version, attributes, replace_attributes=True)
    else:
        event = CheckIn(serial, "", version, data, replace_attributes=mode == "replace")
    state.writer.put(event)
    return JSONResponse({})


async def cancel_action(request: Request) -> Response:
    """Tell the device to stop the action it is working on.
    ---
    responses:
      200: {description: the cancel request}
      404: {description: nothing to cancel}
    """
    state: ServerState = request.app.state.ota
    _key, problem = _auth(request, state)
    if problem is not None:
        return problem
    serial = request.path_params["controller_id"]
    action_id = request.path_params["action_id"]
    if state.open_actions.get(serial) != action_id:
        return error(404, f"Action {action_id} is not open for {serial}.", "not_found")
    return JSONResponse({"id": action_id, "cancelAction": {"stopId": action_id}})


async def cancel_feedback(request: Request) -> Response:
    """The device's answer to a cancel request.
    ---
    responses:
      200: {description: recorded}
    """
    state: ServerState = request.app.state.ota
    read = await _read_feedback(request, state)
    if isinstance(read, Response):
        return read
    serial, action_id, parsed = read
    if parsed["execution"] == "closed" and parsed["finished"] == "success":
        state.open_actions.pop(serial, None)
        state.closed_actions.add((serial, action_id))
    state.writer.put(Feedback(serial, action_id, "cancel", parsed["execution"],
                              parsed["finished"], parsed["progress"], parsed["details"]))
    return JSONResponse({})


async def artifact(request: Request) -> Response:
    """Download an artifact through the DDI link (same rules as /api/v0/artifacts)."""
    from ota_desktop.server.downloads import artifact as serve

    state: ServerState = request.app.state.ota
    _key, problem = _auth(request, state)
    if problem is not None:
        return problem
    filename = request.path_params["filename"]
    if filename.endswith(".MD5SUM"):
        module_id = parse_id(request.path_params["module_id"])
        payload = state.payload(module_id) if module_id is not None else None
        if payload is None or payload.filename + ".MD5SUM" != filename:
            return error(404, "No such artifact.", "not_found")
        return Response(f"{payload.md5}  {payload.filename}\n", media_type="text/plain")
    request.path_params["payload_id"] = request.path_params["module_id"]
    return await serve(request)
