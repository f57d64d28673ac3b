"""The ASGI application (Starlette): the page, its bundled scripts, the set's images and the JSON API.

    GET  /                       the experiment page (jsPsych), with the platform's ids in the query
    GET  /static/...             page scripts and the vendored jsPsych bundle (nothing from a CDN)
    GET  /stimuli/<stim_id>.png  one image of the set's images/ folder
    GET  /api/info               the consent text
    POST /api/start | /api/trial | /api/event | /api/finish   (JSON; all but start carry the token)

Every refusal is a 4xx JSON `{"error": ...}` and changes nothing: bodies are size-limited before
they are read whole, must be JSON objects, and each participant token and client address is
rate-limited.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from experiment.web.study import OnlineStudy, Rejection
from labutil.errors import UserError

STATIC = Path(__file__).with_name("static")
VENDOR = STATIC / "vendor"
#: Files `make setup` copies from node_modules into static/vendor/ (see package.json).
VENDOR_FILES: tuple[str, ...] = (
    "jspsych.min.js", "jspsych.css", "plugin-browser-check.min.js", "plugin-canvas-keyboard-response.min.js",
    "plugin-fullscreen.min.js", "plugin-html-button-response.min.js", "plugin-html-keyboard-response.min.js",
    "plugin-image-button-response.min.js", "plugin-preload.min.js", "plugin-virtual-chinrest.min.js",
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
}


def check_bundle() -> None:
    """One-line error when the jsPsych bundle was not installed into the package."""
    missing = [f for f in VENDOR_FILES if not (VENDOR / f).is_file()]
    if missing:
        raise UserError(f"jsPsych bundle missing ({VENDOR}/{missing[0]}); run `make web-bundle` "
                        "(npm ci, then copies node_modules/jspsych into the package)")


class RateLimiter:
    """At most `limit` events per key in any 60-second window."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._events: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._events.setdefault(key, collections.deque())
            while q and q[0] <= now - 60:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            if len(self._events) > 100_000:  # forget idle keys
                for k in [k for k, v in self._events.items() if not v]:
                    del self._events[k]
            return True


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)


async def _json_body(request: Request, limit: int) -> Any:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Rejection(415, "send application/json")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Rejection(413, f"body larger than {limit} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > limit:
            raise Rejection(413, f"body larger than {limit} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Rejection(400, "body is not valid JSON") from None


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None


def create_app(study: OnlineStudy) -> Starlette:
    """The application serving one online study."""
    check_bundle()
    cfg = study.cfg
    per_token, per_client = RateLimiter(cfg.requests_per_minute), RateLimiter(cfg.starts_per_minute)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def info(request: Request) -> Response:
        return JSONResponse({"consent_text": cfg.consent_text}, headers=SECURITY_HEADERS)

    async def image(request: Request) -> Response:
        try:
            path = study.image_path(request.path_params["name"])
        except Rejection as exc:
            return _error(exc.status, exc.message)
        return FileResponse(path, media_type="image/png", headers={**SECURITY_HEADERS, "Cache-Control": "private, max-age=3600"})

    def api(handler: str, needs_token: bool) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                client = request.client.host if request.client else "unknown"
                token = _token(request)
                if needs_token:
                    if not token:
                        raise Rejection(401, "missing token")
                    if not per_token.allow(token[:100]):
                        raise Rejection(429, "too many requests; slow down")
                elif not per_client.allow(client):
                    raise Rejection(429, "too many sessions started from this address; try again in a minute")
                body = await _json_body(request, cfg.max_body_bytes)
                if handler == "start":
                    if not isinstance(body, dict):
                        raise Rejection(400, "the body must be a JSON object")
                    result = await run_in_threadpool(study.start, body)
                elif handler == "finish":
                    result = await run_in_threadpool(study.finish, token)
                else:
                    result = await run_in_threadpool(getattr(study, handler), token, body)
            except Rejection as exc:
                return _error(exc.status, exc.message)
            except UserError as exc:  # the server's files (registry, private folder, a session) need attention
                print(f"error: {exc}", file=sys.stderr, flush=True)
                return _error(500, "the server cannot store this session right now; please try again later")
            return JSONResponse(result, headers=SECURITY_HEADERS)

        return endpoint

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/stimuli/{name}", image),
        Route("/api/start", api("start", False), methods=["POST"]),
        Route("/api/trial", api("trial", True), methods=["POST"]),
        Route("/api/event", api("event", True), methods=["POST"]),
        Route("/api/finish", api("finish", True), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)
