"""The change feed and mirror refresh endpoints desktops sync through (under the management
prefix, same auth):

    GET  …/changes?after=N&limit=L     operations after sequence N, paged
    POST …/changes                     queued local changes, each with its base revision;
                                       409 with both versions on a conflict
    GET  …/sync/configuration          every configuration row, at one revision
    GET  …/sync/devices?after=R&limit  the fleet, paged by device revision
    HEAD/GET/PUT …/sync/artifacts/{sha256}   payload files, checked against their hash
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response

from ota_desktop.auth import may_edit
from ota_desktop.errors import BadInput, NotFound
from ota_desktop.server.management import MAX_UPLOAD, principal
from ota_desktop.server.state import ServerState, error, json_or_error
from ota_desktop.sync import feed

MAX_PUSH = 16 * 1024 * 1024


def _page_args(request: Request, default: int) -> tuple[int, int] | Response:
    params = request.query_params
    after_text, limit_text = params.get("after", "0"), params.get("limit", str(default))
    if not all(t.isascii() and t.isdigit() and len(t) <= 19 for t in (after_text, limit_text)):
        return error(400, "after and limit are whole numbers.")
    after, limit = int(after_text), int(limit_text)
    if after < 0 or not 0 < limit <= feed.MAX_PAGE or after > 2**62:
        return error(400, f"after is ≥ 0 and limit between 1 and {feed.MAX_PAGE}.")
    return after, limit


async def changes(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    who = await principal(request, state, per_change=True)
    if isinstance(who, Response):
        return who
    if request.method == "GET":
        page = _page_args(request, 500)
        if isinstance(page, Response):
            return page
        return JSONResponse(feed.changes_after(state.store, *page))
    body, bad = json_or_error(await request.body(), limit=MAX_PUSH)
    if bad is not None:
        return bad
    if not isinstance(body, dict) or not isinstance(body.get("client"), str) \
            or not 8 <= len(body["client"]) <= 64:
        return error(400, "client (the pushing mirror's id, 8–64 characters) is required.")
    try:
        outcome = feed.push(state.store, who, body["client"], body.get("changes"),
                            state.signer)
    except BadInput as exc:
        return error(400, str(exc))
    data: dict[str, object] = {"applied": outcome.applied}
    if outcome.status == 409:
        data["error"] = {"message": "The server's version changed since this edit was made.",
                         "type": "conflict"}
        data["conflict"] = outcome.problem
    elif outcome.problem is not None:
        data["error"] = {"message": outcome.problem["message"],
                         "type": "forbidden" if outcome.status == 403 else "invalid_request"}
        data["refused"] = outcome.problem
    return JSONResponse(data, status_code=outcome.status)


async def whoami(request: Request) -> Response:
    """Who the credentials sign in as, so a desktop applies the same rules to local edits."""
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    seq = request.query_params.get("seq", "")
    at_seq = feed.fingerprint(state.store, int(seq)) if seq.isascii() and seq.isdigit() \
        and len(seq) <= 18 else None
    return JSONResponse({"name": who.name, "role": who.role, "is_token": who.is_token,
                         "permit_protected": who.permit_protected,
                         "server": feed.server_id(state.store),
                         "revision": feed.revision(state.store), "at_seq": at_seq})


async def configuration(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    return JSONResponse(feed.configuration_rows(state.store))


async def devices(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    page = _page_args(request, feed.MAX_PAGE)
    if isinstance(page, Response):
        return page
    return JSONResponse(feed.devices_after(state.store, *page))


async def devices_lookup(request: Request) -> Response:
    """POST {"serials": [...]} (at most 5,000): those devices as the server has them."""
    state: ServerState = request.app.state.ota
    who = await principal(request, state, per_change=True)  # a read, sent as a POST
    if isinstance(who, Response):
        return who
    body, bad = json_or_error(await request.body(), limit=MAX_PUSH)
    if bad is not None:
        return bad
    serials = body.get("serials") if isinstance(body, dict) else None
    if not isinstance(serials, list) or len(serials) > feed.MAX_PAGE or not all(
            isinstance(s, str) for s in serials):
        return error(400, f"serials is a list of at most {feed.MAX_PAGE} device serials.")
    return JSONResponse(feed.devices_named(state.store, serials))


async def staged(request: Request) -> Response:
    """GET ?cohort=slug: the serials staged in that cohort."""
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    try:
        return JSONResponse(feed.staged_in(state.store, request.query_params.get("cohort", "")))
    except NotFound as exc:
        return error(404, str(exc), "not_found")


async def artifact(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    who = await principal(request, state)
    if isinstance(who, Response):
        return who
    sha = request.path_params["sha256"]
    try:
        path = state.artifacts.path_for(sha)
    except BadInput as exc:
        return error(400, str(exc))
    if request.method == "PUT" and not may_edit(who):
        return error(403, f"{who.name} is a reader and cannot upload files.", "forbidden")
    if request.method in ("GET", "HEAD"):
        if not path.is_file():
            return error(404, "The server has no file with that sha256.", "not_found")
        return FileResponse(path)
    # PUT: stream to a temporary file, keep it only if it hashes to the name it was sent as
    digest = hashlib.sha256()
    received = 0
    with tempfile.NamedTemporaryFile(prefix="ota-sync-", delete=False) as out:
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > MAX_UPLOAD:
                    Path(out.name).unlink(missing_ok=True)
                    return error(413, "The file is too large.", "payload_too_large")
                digest.update(chunk)
                out.write(chunk)
        except ClientDisconnect:  # the client went away mid-upload: leave nothing behind
            Path(out.name).unlink(missing_ok=True)
            return Response(status_code=400)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    try:
        if digest.hexdigest() != sha:
            return error(400, "The file's sha256 does not match the name it was sent as.")
        state.artifacts.add_file(Path(out.name))
    finally:
        Path(out.name).unlink(missing_ok=True)
    return Response(status_code=201)
