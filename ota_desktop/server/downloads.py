"""Artifact downloads: GET/HEAD, Range (206/416), ETag/If-None-Match, and gzip or brotli for
compressible files — streamed from disk, never read whole into memory.

Compressed variants are made once, in the background, the first time a client that accepts
them asks; until then the identity file is served. Ranged requests always get the identity
bytes, so resumable downloads and their hashes stay exact.
"""

from __future__ import annotations

import gzip
import re
import shutil
import threading
import zlib
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from ota_desktop.server.state import ServerState, error, parse_id
from ota_desktop.service.signing import public_key

SAMPLE = 64 * 1024
_compressing: set[Path] = set()
_lock = threading.Lock()


def compressible(path: Path) -> bool:
    """A cheap test on the first 64 KiB: worth it when deflate saves a tenth or more."""
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE)
    return len(sample) > 512 and len(zlib.compress(sample, 1)) < 0.9 * len(sample)


def _make_variant(source: Path, target: Path, encoding: str) -> None:
    tmp = target.with_suffix(target.suffix + ".part")
    try:
        with open(source, "rb") as src, open(tmp, "wb") as raw:
            if encoding == "gzip":
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
                    shutil.copyfileobj(src, out, 1024 * 1024)
            else:
                compressor = brotli.Compressor(quality=5)
                while chunk := src.read(1024 * 1024):
                    raw.write(compressor.process(chunk))
                raw.write(compressor.finish())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
        with _lock:
            _compressing.discard(target)


def _variant(path: Path, accept: str) -> tuple[Path, str] | None:
    for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
        if encoding not in accept:
            continue
        target = path.with_name(path.name + suffix)
        if target.exists():
            return target, encoding
        with _lock:
            if target in _compressing or not compressible(path):
                return None
            _compressing.add(target)
        threading.Thread(target=_make_variant, args=(path, target, encoding),
                         daemon=True).start()
        return None
    return None


_RANGE = re.compile(r"^bytes=\s*(\d{0,18}-\d{0,18})(\s*,\s*\d{0,18}-\d{0,18})*\s*$")


class _Payload(FileResponse):
    """A payload file in 1 MiB reads (Starlette's 64 KiB means 16 times the loop turns for a
    multi-GB image)."""

    chunk_size = 1024 * 1024


def _ignore_malformed_range(request: Request) -> None:
    """RFC 9110: a Range header that cannot be parsed is ignored (the whole file is sent)."""
    value = request.headers.get("range")
    if value is None:
        return
    ok = bool(_RANGE.match(value))
    if ok:
        for part in value[len("bytes="):].split(","):
            start, _, end = part.strip().partition("-")
            if (not start and not end) or (start and end and int(start) > int(end)):
                ok = False
    if not ok:
        request.scope["headers"] = [(k, v) for k, v in request.scope["headers"]
                                    if k.lower() != b"range"]
        # Starlette caches the parsed headers on the request
        request.__dict__.pop("_headers", None)


async def signature(request: Request) -> Response:
    """The detached signature of a payload (base64 text of its sha256, signed).
    ---
    responses:
      200: {description: the signature}
      404: {description: no such payload, or it is not signed}
    """
    state: ServerState = request.app.state.ota
    payload_id = parse_id(request.path_params["payload_id"])
    payload = state.payload(payload_id) if payload_id is not None else None
    if payload is None or f"{payload.filename}.sig" != request.path_params["filename"]:
        return error(404, "No such artifact.", "not_found")
    if not payload.signature:
        return error(404, "This payload is not signed.", "not_found")
    return PlainTextResponse(payload.signature + "\n")


async def signing_key(request: Request) -> Response:
    """The project's public signing key (PEM).
    ---
    responses:
      200: {description: the public key}
      404: {description: the project has no signing key}
    """
    state: ServerState = request.app.state.ota
    found = public_key(state.store)
    if found is None:
        return error(404, "This project has no signing key.", "not_found")
    return PlainTextResponse(found[1], headers={"x-signature-algorithm": found[0]},
                             media_type="application/x-pem-file")


async def artifact(request: Request) -> Response:
    """Download a payload file.
    ---
    responses:
      200: {description: the file}
      206: {description: the requested byte range}
      304: {description: not modified (If-None-Match)}
      404: {description: no such payload file}
      416: {description: range not satisfiable}
    """
    state: ServerState = request.app.state.ota
    payload_id = parse_id(request.path_params["payload_id"])
    if payload_id is None:
        return error(404, "No such artifact.", "not_found")
    payload = state.payload(payload_id)
    if payload is not None and request.path_params["filename"] == f"{payload.filename}.sig" \
            and request.method == "GET":
        return await signature(request)  # the detached signature beside the file
    if payload is None or payload.filename != request.path_params["filename"]:
        return error(404, "No such artifact.", "not_found")
    path = state.artifacts.path_for(payload.sha256) if payload.sha256 else None
    if path is None or not path.is_file():  # named by hash: no request path can escape
        return error(404, "This payload's file is not in the artifact store (metadata only).",
                     "not_found")
    etag = f'"{payload.sha256}"'
    if request.headers.get("if-none-match") in (etag, "*"):
        return Response(status_code=304, headers={"etag": etag})
    headers = {"etag": etag, "cache-control": "public, max-age=31536000, immutable",
               "vary": "accept-encoding"}
    served = path
    _ignore_malformed_range(request)
    if "range" not in request.headers:
        variant = _variant(path, request.headers.get("accept-encoding", ""))
        if variant is not None:
            served, encoding = variant
            headers["content-encoding"] = encoding
            headers["etag"] = f'"{payload.sha256}-{encoding}"'
    state.counters.add(downloads=1)
    return _Payload(served, headers=headers, filename=payload.filename,
                    media_type="application/octet-stream", stat_result=served.stat())
