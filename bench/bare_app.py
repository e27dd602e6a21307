"""The framework's ceiling: a Starlette app that answers every request with one fixed JSON."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"config": {"polling": {"sleep": "01:00:00"}}, "_links": {}}


async def fixed(request):  # noqa: ANN001, ANN201
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/{path:path}", fixed)])
