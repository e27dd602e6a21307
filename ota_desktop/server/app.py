"""The device-facing ASGI app: Latest Release endpoint, hawkBit DDI and artifact downloads,
over the same store and resolver as the window and the CLI.

    ota-desktop serve --db fleet.db [--host 127.0.0.1] [--port 8000]
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

from ota_desktop import __version__
from ota_desktop.server import ddi, downloads, latest, management, resources, sync_api
from ota_desktop.server.state import ServerState, error

DDI = ddi.DDI_PREFIX + "/{tenant}/controller/v1/{controller_id}"

class _Schemas(SchemaGenerator):
    """Handler docstrings are prose for people; only a part after ``---`` is OpenAPI YAML."""

    def parse_docstring(self, func_or_method: Callable[..., Any]) -> dict[str, Any]:
        doc = func_or_method.__doc__ or ""
        if "---" not in doc:
            return {}
        return super().parse_docstring(func_or_method)


schemas = _Schemas({"openapi": "3.0.0",
                    "info": {"title": "OTA Desktop API", "version": __version__}})


async def openapi(request: Request) -> Response:
    return JSONResponse(schemas.get_schema(routes=request.app.routes))


async def health(request: Request) -> Response:
    state: ServerState = request.app.state.ota
    c = state.counters
    return JSONResponse({"ok": True, "checkins": c.checkins, "downloads": c.downloads,
                         "queued": state.writer.queue.qsize()})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kinds = {404: "not_found", 405: "method_not_allowed"}
    return error(exc.status_code, str(exc.detail), kinds.get(exc.status_code, "invalid_request"))


def create_app(path: Path, state: ServerState | None = None) -> Starlette:
    """``state`` may be given (the window shares its counters); else one is made at startup."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = state is None
        app.state.ota = state or ServerState(path)
        if own:
            app.state.ota.start()
        try:
            yield
        finally:
            if own:
                app.state.ota.stop()

    routes = [
        Route("/api/v0/releases/latest", latest.latest, methods=["GET"]),
        Route("/api/v0/releases/latest/url", latest.latest_url, methods=["GET"]),
        Route("/api/v0/artifacts/{payload_id}/{filename}", downloads.artifact,
              methods=["GET", "HEAD"], name="artifact"),
        Route(DDI, ddi.base_poll, methods=["GET"], name="ddi_base"),
        Route(DDI + "/deploymentBase/{action_id}", ddi.deployment_base, methods=["GET"]),
        Route(DDI + "/deploymentBase/{action_id}/feedback", ddi.deployment_feedback,
              methods=["POST"]),
        Route(DDI + "/configData", ddi.config_data, methods=["PUT"]),
        Route(DDI + "/cancelAction/{action_id}", ddi.cancel_action, methods=["GET"]),
        Route(DDI + "/cancelAction/{action_id}/feedback", ddi.cancel_feedback,
              methods=["POST"]),
        Route(DDI + "/softwaremodules/{module_id}/artifacts/{filename}", ddi.artifact,
              methods=["GET", "HEAD"]),
        Route(management.PREFIX, management.project, methods=["GET"]),
        Route(management.PREFIX + "/upload", management.prepare_upload, methods=["POST"]),
        Route(management.PREFIX + "/upload/{token}", management.receive_upload,
              methods=["PUT"]),
        Route(management.PREFIX + "/releases/ota_payload", management.ota_payload,
              methods=["POST"]),
        Route(management.PREFIX + "/deployments", management.deployments,
              methods=["GET", "POST"]),
        Route(management.PREFIX + "/deployments/{deployment_id}", management.deployment,
              methods=["DELETE"]),
        *_management_routes(management.PREFIX),
        Route("/api/v0/signing-key.pem", downloads.signing_key, methods=["GET"]),
        Route("/api/v0/openapi.json", openapi, include_in_schema=False),
        Route("/api/v0/health", health, include_in_schema=False),
    ]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: _http_error})


def _management_routes(prefix: str) -> list[Route]:
    r = resources
    return [
        Route(prefix + "/releases", r.releases, methods=["GET"]),
        Route(prefix + "/releases/{version}", r.release, methods=["GET", "PATCH"]),
        Route(prefix + "/delta-releases", r.delta_releases, methods=["GET"]),
        Route(prefix + "/cohorts", r.cohorts, methods=["GET", "POST"]),
        Route(prefix + "/cohorts/{slug}", r.cohort, methods=["GET", "PATCH"]),
        Route(prefix + "/cohorts/{slug}/devices", r.cohort_devices, methods=["POST"]),
        Route(prefix + "/devices", r.devices, methods=["GET"]),
        Route(prefix + "/devices/{serial}", r.device, methods=["GET"]),
        Route(prefix + "/project-keys", r.project_keys, methods=["GET", "POST"]),
        Route(prefix + "/project-keys/{key}", r.project_key, methods=["PATCH"]),
        Route(prefix + "/changes", sync_api.changes, methods=["GET", "POST"]),
        Route(prefix + "/sync/configuration", sync_api.configuration, methods=["GET"]),
        Route(prefix + "/sync/whoami", sync_api.whoami, methods=["GET"]),
        Route(prefix + "/sync/devices", sync_api.devices, methods=["GET"]),
        Route(prefix + "/sync/devices/lookup", sync_api.devices_lookup, methods=["POST"]),
        Route(prefix + "/sync/staged", sync_api.staged, methods=["GET"]),
        Route(prefix + "/sync/artifacts/{sha256}", sync_api.artifact,
              methods=["GET", "HEAD", "PUT"]),
    ]


def serve(path: Path, host: str = "127.0.0.1", port: int = 8000,
          signer: Any = None) -> None:
    import uvicorn

    state = ServerState(path, signer=signer) if signer is not None else None
    app = create_app(path, state)
    if state is not None:
        state.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if state is not None:
            state.stop()
