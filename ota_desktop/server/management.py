"""The management API, as far as the published memfault-cli needs it for
``upload-ota-payload`` and ``deploy-release`` (issue 5 builds the rest on this).

Prefix ``/api/v0/organizations/{org}/projects/{project}``; auth ``Authorization: Bearer
oat_…`` (an organization auth token) or Basic with the token as password. Every change goes
through ProjectService as the token's principal, so roles, protected cohorts and the
operations log apply exactly as in the window and the CLI.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ota_desktop.auth import Principal, may_edit
from ota_desktop.changes import Activate, Pull
from ota_desktop.errors import BadInput, Forbidden, NotFound, OtaError
from ota_desktop.model import ReleaseRef
from ota_desktop.server.state import ServerState, base_url, error, json_or_error
from ota_desktop.service.access import (
    known_password,
    principal_for_token,
    user_credentials,
    verify_password,
)

PREFIX = "/api/v0/organizations/{org}/projects/{project}"
MAX_UPLOAD = 8 * 1024**3
SLOT_SECONDS = 3600
#: upload token (issued by POST …/upload) -> (when it expires, the size it was asked for)
_slots: dict[str, tuple[float, int]] = {}
_uploads: dict[str, tuple[Path, float]] = {}  # upload token -> received file, expiry


def _sweep(now: float) -> None:
    """Forget expired slots and delete files uploaded but never attached."""
    for token in [t for t, (expires, _) in _slots.items() if expires < now]:
        del _slots[token]
    for token in [t for t, (_, expires) in _uploads.items() if expires < now]:
        _uploads.pop(token)[0].unlink(missing_ok=True)


async def principal(request: Request, state: ServerState, per_change: bool = False
                    ) -> Principal | Response:
    """Who is asking: ``Bearer oat_…``, or Basic with ``user:password`` (or a token as the
    password, as memfault-cli sends it); 401 for anything else. A reader's writes are
    refused here (403), except where each change is answered on its own (``per_change``:
    a desktop's push, so its queued edits are marked refused and the pull still runs)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    secret, user = value.strip(), ""
    if scheme.lower() == "basic":
        try:
            user, _, secret = base64.b64decode(secret, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            secret = ""
    elif scheme.lower() != "bearer":
        secret = ""
    who = None
    if secret.startswith("oat_"):
        who = principal_for_token(state.store, secret)
    elif user and secret:
        row = user_credentials(state.store, user)
        # scrypt off the event loop, so a stream of wrong passwords cannot stall devices
        if row is not None and (known_password(row, secret) or await asyncio.to_thread(
                verify_password, row, secret)):
            who = Principal(row[0], row[1])  # type: ignore[arg-type]
    if who is None:
        return error(401, "Sign in with an organization auth token (Bearer oat_…) or a "
                          "user name and password (Basic).", "unauthorized")
    if request.method not in ("GET", "HEAD") and not may_edit(who) and not per_change:
        return error(403, f"{who.name} is a reader: the management API is read-only for "
                          "readers.", "forbidden")
    return who


async def _authorized_json(request: Request, state: ServerState
                           ) -> tuple[Principal, Any] | Response:
    """The token's principal and the parsed JSON body, or the 4xx to answer."""
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    body, bad = json_or_error(await request.body())
    if bad is not None:
        return bad
    return who, body


def refusal(exc: OtaError) -> Response:
    """A refused change: 403 when the role or token does not allow it, else 400."""
    if isinstance(exc, Forbidden):
        return error(403, str(exc), "forbidden")
    if isinstance(exc, NotFound):
        return error(404, str(exc), "not_found")
    return error(400, str(exc))


def _ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"data": data}, status_code=status)


async def project(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    p = state.config().project
    return _ok({"slug": p.slug, "name": p.name, "version_scheme": p.version_scheme})


async def prepare_upload(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    read = await _authorized_json(request, state)
    if isinstance(read, Response):
        return read
    who, body = read
    if not may_edit(who):  # as PUT …/sync/artifacts: a reader stores no files on the server
        return error(403, f"{who.name} is a reader and cannot upload files.", "forbidden")
    size = body.get("size") if isinstance(body, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_UPLOAD:
        return error(400, "size must be a whole number of bytes above 0.")
    token = secrets.token_urlsafe(24)
    now = time.monotonic()
    _sweep(now)
    _slots[token] = (now + SLOT_SECONDS, size)
    p = request.path_params
    url = (f"{base_url(request)}{PREFIX.format(org=p['org'], project=p['project'])}"
           f"/upload/{token}")
    return _ok({"upload_url": url, "token": token})


async def receive_upload(request: Request) -> Response:
    """PUT the file into a slot issued by POST …/upload (the unguessable token is the
    credential, as with the upload URLs memfault-cli expects); each slot takes one file."""
    token = request.path_params["token"]
    slot = _slots.pop(token, None)
    expires, declared = slot if slot is not None else (0.0, 0)
    if slot is None or expires < time.monotonic():
        return error(404, "There is no such upload slot (ask POST …/upload for one).",
                     "not_found")
    with tempfile.NamedTemporaryFile(prefix="ota-upload-", delete=False) as out:
        try:
            received = 0
            async for chunk in request.stream():
                received += len(chunk)
                if received > declared:
                    raise _TooLarge
                out.write(chunk)
        except (_TooLarge, ClientDisconnect) as exc:  # or the client went away mid-upload
            Path(out.name).unlink(missing_ok=True)
            if isinstance(exc, _TooLarge):
                return error(413, "The upload is larger than the slot's declared size.",
                             "payload_too_large")
            return Response(status_code=400)  # nobody is listening any more
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    _uploads[token] = (Path(out.name), expires)
    return Response(status_code=200)


class _TooLarge(Exception):
    pass


async def ota_payload(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    read = await _authorized_json(request, state)
    if isinstance(read, Response):
        return read
    who, body = read
    try:
        info = _payload_request(body)
    except BadInput as exc:
        return error(400, str(exc))
    upload = _uploads.pop(info["token"], None)
    if upload is None:
        return error(400, "Unknown upload token: upload the file first.")
    path = upload[0]
    service = state.service(who)
    try:
        stored = state.artifacts.add_file(path)
        if stored.md5 != info["md5"]:
            return error(400, "The uploaded file's md5 does not match.")
        version = info["version"]
        ref = (ReleaseRef(info["software_type"], from_version=version[0], to_version=version[1])
               if isinstance(version, list) else ReleaseRef(info["software_type"],
                                                           version=version))
        with service.db.atomic():
            if info["software_type"] not in state.store.software_types():
                service.add_software_type(info["software_type"])
            if state.store.configuration().find_release(ref) is None:
                if ref.is_delta:
                    service.create_delta(ref.software_type, str(ref.from_version),
                                         str(ref.to_version), revision=info["revision"],
                                         notes=info["notes"])
                else:
                    service.create_release(ref.software_type, str(ref.version),
                                           must_pass_through=info["mpt"],
                                           revision=info["revision"], notes=info["notes"])
            service.add_payload(ref, info["name"], size=stored.size, sha256=stored.sha256,
                                sha1=stored.sha1, md5=stored.md5,
                                attributes={"hardware_version": info["hardware_version"]},
                                extra=info["extra"])
    except OtaError as exc:
        return refusal(exc)
    finally:
        path.unlink(missing_ok=True)
    return _ok({"version": version}, status=201)


def _payload_request(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadInput("The request must be a JSON object.")
    file = body.get("file")
    sv = body.get("software_version")
    if not isinstance(file, dict) or not isinstance(sv, dict):
        raise BadInput("file and software_version are required.")
    version = sv.get("version")
    ok_version = isinstance(version, str) or (
        isinstance(version, list) and len(version) == 2 and all(isinstance(v, str) for v in version))
    if not ok_version:
        raise BadInput("software_version.version is a version or [from, to].")
    fields = {"token": file.get("token"), "md5": file.get("md5"), "name": file.get("name"),
              "software_type": sv.get("software_type"),
              "hardware_version": body.get("hardware_version")}
    for key, value in fields.items():
        if not isinstance(value, str) or not value:
            raise BadInput(f"{key} is required.")
    return {**fields, "version": version, "revision": str(sv.get("revision") or ""),
            "notes": str(body.get("notes") or ""),
            "mpt": bool(body.get("must_pass_through")), "extra": _extra(body.get("extra_info"))}


def _extra(value: Any) -> dict[str, str]:
    """memfault-cli's --extra-metadata k=v pairs (sent as extra_info)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise BadInput("extra_info is an object of text values.")
    return value


def _ref_from(config_software_types: tuple[str, ...], release: Any,
              software_type: str | None = None) -> ReleaseRef:
    software_type = software_type or (config_software_types[0] if config_software_types
                                      else "main")
    if isinstance(release, str) and release:
        return ReleaseRef(software_type, version=release)
    if isinstance(release, list) and len(release) == 2 and all(isinstance(v, str)
                                                              for v in release):
        return ReleaseRef(software_type, from_version=release[0], to_version=release[1])
    raise BadInput("release is a version or [from, to].")


def _deployment_json(activation_id: int, history: dict[str, Any]) -> dict[str, Any]:
    return {"id": activation_id, "cohort": history["cohort"], "release": history["release"],
            "type": "staged_rollout" if history["kind"] == "staged" else "normal",
            "rollout_percent": history["rollout_percent"],
            "status": ("paused" if history["paused"] else "done")
            if history["status"] == "active" else "pulled",
            "paused_reason": history["paused_reason"],
            "activated_by": history["activated_by"], "created_date": history["created_at"]}


async def deployments(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    config = state.config()
    if request.method == "GET":
        params = request.query_params
        rows = state.store.activation_history()
        if params.get("cohort"):
            rows = [r for r in rows if r["cohort"] == params["cohort"]]
        if params.get("release"):
            rows = [r for r in rows if not r["is_delta"] and r["release"] == params["release"]]
        if params.get("delta_from") or params.get("delta_to"):
            wanted = f"{params.get('delta_from')}→{params.get('delta_to')}"
            rows = [r for r in rows if r["is_delta"] and r["release"] == wanted]
        return _ok([_deployment_json(r["id"], r) for r in rows])
    body, bad = json_or_error(await request.body())  # already authorized above
    if bad is not None:
        return bad
    if not isinstance(body, dict) or not isinstance(body.get("cohort"), str):
        return error(400, "cohort is required.")
    kind = body.get("type", "normal")
    percent = body.get("rollout_percent")
    service = state.service(who)
    try:
        ref = _ref_from(config.software_types, body.get("release"))
        if kind == "staged_rollout":
            if not isinstance(percent, (int, float)) or isinstance(percent, bool):
                raise BadInput("rollout_percent is required for a staged rollout.")
            change = Activate(ref, body["cohort"], kind="staged", rollout_percent=percent)
        elif kind == "normal":
            change = Activate(ref, body["cohort"])
        else:
            raise BadInput("type is normal or staged_rollout.")
        change.apply(service)
    except OtaError as exc:
        return refusal(exc)
    return _ok({"cohort": body["cohort"]}, status=201)


async def deployment(request: Request) -> Response:
    """DELETE a deployment: pull that activation."""
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    wanted = request.path_params["deployment_id"]
    row = next((r for r in state.store.activation_history() if str(r["id"]) == wanted), None)
    if row is None:
        return error(404, "No such deployment.", "not_found")
    release = row["release"].split("→") if row["is_delta"] else row["release"]
    try:
        ref = _ref_from((row["software_type"],), release)
        Pull(ref, row["cohort"]).apply(state.service(who))
    except OtaError as exc:
        return refusal(exc)
    return Response(status_code=204)
