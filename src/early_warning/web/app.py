"""The workbench's web layer (Starlette, Jinja2 templates, a little JavaScript).

Security: served on 127.0.0.1 by default; on any other address a token from the
configuration (at least 16 characters) is required (a bearer header or the cookie set by
`/?token=...`). A Host header must name loopback, this machine (with a token), the
address the connection came in on, or a configured name: DNS rebinding is refused.
Every state-changing request must carry the page's CSRF token in `X-CSRF-Token` (a
header a cross-site form cannot set) and, when the browser sends one, an Origin equal to
the server's own scheme, host and port. Bodies over 64 KiB are refused while they
stream in. Templates escape everything, JSON inside a page escapes `<`, `>` and `&`, and
the script writes text with `textContent`. No script, style or font comes from
elsewhere, so the page works with no network. Error answers name no server path.

The database and the scoring run in worker threads, never on the event loop: a
request waiting for another process's write lock holds up no other request. The one
exception is a slider move (`/api/score` with `"detail": false`) on a session already
made: a fraction of a millisecond of arithmetic, no file read and no database, answered on
the loop, where the hop to a worker thread cost as much again. The selected week's
detail is its own request (`/api/week`), which the page sends only when the week
changes or a slider is let go. A web
write waits at most `BUSY_MS` for the lock and then answers 503 with `Retry-After`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import re
import secrets
import socket
import sqlite3
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..catalog import Catalog
from ..errors import (
    ConfigError,
    EarlyWarningError,
    ForbiddenError,
    InputError,
    NotFoundError,
    RequestError,
    StoreError,
    TooLargeError,
)
from ..ingest import Limits, observe
from ..ingest.validate import OBSERVATION_COLUMNS
from ..periods import SUBJECT_PATTERN, PeriodError, parse_date
from .workbench import MAX_WEIGHT, PROFILE_NAME, Workbench

__all__ = ["MIN_TOKEN", "create_app"]

HERE = Path(__file__).parent
MAX_BODY = 64 * 1024
PLAIN_NESTING = 200  # brackets in a body below which it cannot nest near the recursion limit
MIN_TOKEN = 16  # characters of [web] token
BUSY_MS = 1500  # how long a web write waits for another process's write lock
RETRY_AFTER = 3  # seconds, in the 503 answer's Retry-After
BUSY = "the database is busy; try again in a few seconds"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
log = logging.getLogger("early_warning.web")


def create_app(
    db_path: Path,
    catalog: Catalog,
    models_dir: Path,
    *,
    subject: str = "BLR",
    token: str = "",
    author: str = "workbench",
    hosts: tuple[str, ...] = (),
    busy_ms: int = BUSY_MS,
) -> Starlette:
    """The workbench app; `hosts` are the names it answers to besides loopback and the
    address a connection came in on (a Host header naming anything else is refused, which
    stops DNS rebinding). With a token, this machine's own names are accepted too."""
    check_token(token)
    bench = Workbench(db_path, catalog, models_dir, busy_ms=busy_ms)
    csrf = secrets.token_urlsafe(24)
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )
    templates.filters["script_json"] = script_json
    scrub = _Scrubber(db_path, models_dir, catalog)

    # The subjects the page offers: those a theatre scores (the server's own without
    # theatres, where any subject is scored with the whole catalog).
    scored = [s for t in catalog.theatres for s in t.subjects] or [subject]

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("subject", subject)
        text = templates.get_template(name).render(csrf=csrf, subjects=scored, **context)
        return HTMLResponse(text, status_code=status, headers={"Content-Security-Policy": _CSP})

    def answer(
        request: Request, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        """An error as JSON, or as a page for a browser asking for one; no path in it."""
        message = scrub(message)
        if len(message) > 600:
            message = message[:600] + "..."
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            response: Response = page("error.html", status=status, status_code=status,
                                      message=message)  # fmt: skip
        else:
            response = JSONResponse({"error": message}, status_code=status)
        response.headers.update(headers or {})
        return response

    async def index(request: Request) -> Response:
        if token and request.query_params.get("token"):
            response = RedirectResponse("/", status_code=303)
            response.set_cookie("ew_token", request.query_params["token"], httponly=True,
                                samesite="strict")  # fmt: skip
            return response
        chosen = _profile_name(request.query_params.get("profile"))
        who = _subject(request.query_params.get("subject"), subject)
        return await run_in_threadpool(index_page, who, chosen, _as_of(request))

    def index_page(who: str, chosen: str | None, as_of: dt.date | None = None) -> Response:
        session = bench.session(who, chosen, as_of)
        part = session.catalog  # the subject's slice: only its families get sliders
        families = [
            {
                "id": f.id, "name": f.name, "weight": session.saved.family_weights[f.id],
                "indicators": [
                    {"id": i, "name": part.indicators[i].name,
                     "weight": session.saved.indicator_weights[i]}
                    for i in f.indicators
                ],
            }
            for f in part.families.values()
        ]  # fmt: skip
        return page(
            "index.html", subject=who, families=families, profile=session.saved,
            as_of=session.as_of,
            profiles=bench.profiles(), timeline=bench.timeline(session), max_weight=MAX_WEIGHT,
            warning=bench.warning(session),
        )  # fmt: skip

    async def indicator(request: Request) -> Response:
        ind_id = request.path_params["indicator"]
        if ind_id not in catalog.indicators:
            raise NotFoundError(f"indicator {ind_id!r}: not in the catalog")
        return await run_in_threadpool(indicator_page, ind_id)

    def indicator_page(ind_id: str) -> Response:
        ind = catalog.indicators[ind_id]
        with bench.store() as store:
            observations = store.observations(indicator=ind_id, all_revisions=True, limit=500)
            rejects = store.rejects_mentioning(ind_id, limit=500)
        citations = [
            {"reference": catalog.sources[c.source].reference() if c.source in catalog.sources
             else c.source, "section": c.section, "quote": c.quote}
            for c in ind.citations
        ]  # fmt: skip
        return page("indicator.html", ind=ind, observations=observations, rejects=rejects,
                    citations=citations)  # fmt: skip

    async def api_score(request: Request) -> Response:
        payload = await _json(request, csrf)
        detail = payload.get("detail", True)
        if not isinstance(detail, bool):
            raise InputError("detail: true or false (false: the series alone)")
        if not detail:
            # A slider move on an open session: under a millisecond of arithmetic and no
            # file or database, done on the event loop, where the hop to a worker thread
            # would cost as much as the scoring. A session still to be made (the
            # database) is made in a worker thread, as every other request's.
            chosen = _chosen(payload, subject)
            session = bench.cached(*chosen) or await run_in_threadpool(bench.session, *chosen)
            body, seconds = bench.series(session, payload)
            timing = {"Server-Timing": f"score;dur={seconds * 1e3:.3f}"}
            return Response(body, media_type="application/json", headers=timing)

        def work() -> Response:
            session = bench.session(*_chosen(payload, subject))
            return _timed(bench.rescore(session, payload), "score")

        return await run_in_threadpool(work)

    async def api_week(request: Request) -> Response:
        payload = await _json(request, csrf)

        def work() -> Response:
            session = bench.session(*_chosen(payload, subject))
            return _timed(bench.week(session, payload), "week")

        return await run_in_threadpool(work)

    async def api_backtest(request: Request) -> Response:
        payload = await _json(request, csrf)

        def work() -> Response:
            session = bench.session(*_chosen(payload, subject))
            return JSONResponse(bench.backtest(session, payload))

        return await run_in_threadpool(work)

    async def api_profiles(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(await run_in_threadpool(bench.profiles))
        payload = await _json(request, csrf)
        who = str(payload.get("author") or author)
        if len(who) > 200:
            raise InputError("author: at most 200 characters")

        def work() -> Response:
            session = bench.session(*_chosen(payload, subject))
            return JSONResponse(bench.save(session, payload, who), status_code=201)

        return await run_in_threadpool(work)

    async def api_observation(request: Request) -> Response:
        payload = await _json(request, csrf)
        unknown = set(payload) - {"indicator", *OBSERVATION_COLUMNS}
        if unknown:
            raise InputError(f"{sorted(unknown)[0]}: not a column of an observation")
        fields = {k: payload.get(k) for k in ("indicator", *OBSERVATION_COLUMNS)}
        for key, value in fields.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                fields[key] = repr(value)  # a JSON number: read like the same text in a file
            elif value is not None and not isinstance(value, str):
                raise InputError(f"{key}: expected text or a number")
        if not fields["indicator"] or not fields["date"] or fields["value"] in (None, ""):
            raise InputError("indicator, date and value are required")
        return await run_in_threadpool(record_observation, fields)

    def record_observation(fields: dict[str, Any]) -> Response:
        with bench.store() as store:
            result = observe(
                store, catalog, fields.pop("indicator"), fields.pop("value"),
                date=fields.pop("date"), default_subject=subject, limits=Limits(),
                **{k: v for k, v in fields.items() if v},
            )  # fmt: skip
        bench.forget()
        body = {
            "status": "loaded" if result.rows_loaded else
            ("rejected" if result.rows_rejected else "unchanged"),
            "rejects": [vars(r) for r in result.rejects],
            "message": scrub(result.summary()),
        }  # fmt: skip
        if result.rows_rejected:  # the reason, where every error answer has it
            body["error"] = scrub(
                "; ".join(f"{r.field}: {r.reason}" for r in result.rejects) or body["message"]
            )
        status = 201 if result.rows_loaded else (422 if result.rows_rejected else 200)
        return JSONResponse(body, status_code=status)

    # -- errors: a clear status and one line, never a traceback or a server path ----------

    async def on_error(request: Request, exc: Exception) -> Response:
        if _is_busy(exc):
            return answer(request, 503, BUSY, {"Retry-After": str(RETRY_AFTER)})
        if isinstance(exc, TooLargeError):  # the rest of the body is not read
            return answer(request, exc.status, str(exc), {"Connection": "close"})
        if isinstance(exc, RequestError):
            return answer(request, exc.status, str(exc))
        if isinstance(exc, NotFoundError):
            return answer(request, 404, str(exc))
        if isinstance(exc, StoreError):
            log.error("workbench: %s", exc)
            return answer(request, 500, "the database cannot be used (see the server log)")
        return answer(request, 400, str(exc))

    async def on_database_error(request: Request, exc: Exception) -> Response:
        if _is_busy(exc):
            return answer(request, 503, BUSY, {"Retry-After": str(RETRY_AFTER)})
        log.error("workbench: database error: %s", exc)
        return answer(request, 500, "the database cannot be used (see the server log)")

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return answer(request, exc.status_code, message, dict(exc.headers or {}))

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("workbench: unexpected error", exc_info=exc)
        return answer(request, 500, "internal error (the server log has the details)")

    routes = [
        Route("/", index),
        Route("/indicator/{indicator}", indicator),
        Route("/api/score", api_score, methods=["POST"]),
        Route("/api/week", api_week, methods=["POST"]),
        Route("/api/backtest", api_backtest, methods=["POST"]),
        Route("/api/profiles", api_profiles, methods=["GET", "POST"]),
        Route("/api/observations", api_observation, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        EarlyWarningError: on_error, ValueError: on_error, sqlite3.Error: on_database_error,
        HTTPException: on_http, Exception: on_crash,
    })  # fmt: skip
    if token:
        app.add_middleware(_TokenMiddleware, token=token)
    names = {*LOOPBACK_NAMES, *hosts}
    if token:  # beyond loopback: the names this machine goes by
        names |= {socket.gethostname(), socket.getfqdn()}
    app.add_middleware(_HostMiddleware, names=names)
    app.add_middleware(_HeadersMiddleware)
    app.state.bench = bench
    return app


def check_token(token: str) -> None:
    """A configured token must be long enough not to be guessed."""
    if token and len(token) < MIN_TOKEN:
        raise ConfigError(
            f"[web] token: at least {MIN_TOKEN} characters (it has {len(token)}); make one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )


def script_json(value: Any) -> Markup:
    """JSON safe inside a `<script>` element or any HTML: `<`, `>` and `&` are escaped, so
    no text in it can end the element or start a comment."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # escaped above


def _as_of(request: Request) -> dt.date | None:
    """`?as_of=YYYY-MM-DD`: the week to open (default: the newest data)."""
    text = request.query_params.get("as_of")
    if not text:
        return None
    try:
        day = parse_date(text)
    except PeriodError:
        raise RequestError("as_of: not a date (YYYY-MM-DD)") from None
    if day > dt.date.today():  # as `score --as-of` refuses it
        raise RequestError(f"as_of: {day} is in the future; scores need observed data")
    return day


def _chosen(payload: dict[str, Any], default: str) -> tuple[str, str | None]:
    """The subject and saved profile a request names (its theatre's without one)."""
    # A profile given as null is refused like any other non-name: only an absent one
    # means the theatre's.
    profile = _profile_name(str(payload["profile"])) if "profile" in payload else None
    return _subject(payload.get("subject"), default), profile


def _subject(value: Any, default: str) -> str:
    """A subject code (the server's without one); its theatre is checked when scored."""
    if value is None:
        return default
    if not isinstance(value, str) or not SUBJECT_PATTERN.fullmatch(value):
        raise InputError("subject: an ISO alpha-3 code or a dyad AAA-BBB")
    return value


def _profile_name(value: Any) -> str | None:
    """A saved profile by name only (never a path on the server); None: the theatre's."""
    if value is None:
        return None
    name = str(value)
    if not PROFILE_NAME.fullmatch(name):
        raise InputError("profile: a saved profile's name (letters, digits, - and _)")
    return name


_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


async def _json(request: Request, csrf: str) -> dict[str, Any]:
    """The body of a state-changing request, after the CSRF and origin checks."""
    sent = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(sent.encode(), csrf.encode()):
        raise ForbiddenError("missing or wrong CSRF token (reload the page)")
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
        if origin.strip().lower() != own:
            raise ForbiddenError(f"cross-origin request from {origin[:200]} refused")
    body = await _body(request)
    try:
        payload = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("the request body is not JSON") from None
    except RecursionError:
        raise InputError("the request body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise InputError("the request body must be a JSON object")
    if _plain(body):
        return payload
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape such as "\\ud800"
        raise InputError("the request body has text that is not valid Unicode") from None
    except RecursionError:
        raise InputError("the request body is nested too deeply") from None
    return payload


def _plain(body: bytes) -> bool:
    """A body whose decoded JSON can hold no lone surrogate and cannot nest near the
    recursion limit, so that `_json`'s check by encoding it again (38 us for a
    slider's 60 weights) cannot fail and is skipped: ASCII without NUL is read as UTF-8
    (json.loads takes UTF-16 and UTF-32 too, where a surrogate needs neither escape nor
    a byte over 127), and then only a `\\u` escape makes a surrogate."""
    return (
        body.isascii()
        and b"\x00" not in body
        and b"\\u" not in body
        and body.count(b"[") + body.count(b"{") < PLAIN_NESTING
    )


async def _body(request: Request) -> bytes:
    """The body, refused as soon as it passes MAX_BODY (a Content-Length over it at once)."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise InputError("Content-Length: not a number")
        if int(length) > MAX_BODY:
            raise TooLargeError(f"request body over {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise TooLargeError(f"request body over {MAX_BODY} bytes")
    return bytes(body)


def _is_busy(exc: BaseException) -> bool:
    """Another process holds the write lock (SQLITE_BUSY or SQLITE_LOCKED)."""
    if not isinstance(exc, sqlite3.OperationalError | StoreError):
        return False
    text = str(exc).lower()
    return any(word in text for word in ("database is locked", "table is locked", "busy"))


class _Scrubber:
    """Takes the server's own paths out of a message shown to a browser."""

    _ABSOLUTE = re.compile(r"(?<![\w:/.~-])/(?:[\w.@+-]+/)+([\w.@+-]+)")

    def __init__(self, db_path: Path, models_dir: Path, catalog: Catalog) -> None:
        named = {"the database": db_path, "models": models_dir}
        directory = getattr(catalog, "folder", None)
        if isinstance(directory, Path):
            named["the catalog"] = directory
        pairs = []
        for label, path in named.items():
            for form in {str(path), str(Path(path).resolve())}:
                if form not in ("", "."):
                    pairs.append((form, label))
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))

    def __call__(self, message: str) -> str:
        for form, label in self.pairs:
            message = message.replace(form, label)
        return self._ABSOLUTE.sub(r"\1", message)


def _host_name(header: str) -> str | None:
    """The name in a Host header (`name`, `name:port`, `[v6]`, `[v6]:port`), lower case;
    None if it is malformed."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return None
        name, rest = header[1:end], header[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return name
    name, colon, port = header.partition(":")
    if colon and not port.isdigit():
        return None
    return name.removesuffix(".") or None


def _timed(result: dict[str, Any], name: str) -> JSONResponse:
    """The answer, with the server's own seconds in a Server-Timing header."""
    return JSONResponse(
        result, headers={"Server-Timing": f"{name};dur={result['seconds'] * 1e3:.3f}"}
    )


class _HostMiddleware:
    """Refuse a Host header naming a foreign name (DNS rebinding). Accepted: `names`, and
    the address the connection came in on (an address, never a name an attacker owns)."""

    def __init__(self, app: Any, names: set[str]) -> None:
        self.app = app
        self.names = {n.strip("[]").lower().removesuffix(".") for n in names if n}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        name = _host_name(headers.get(b"host", b"").decode("latin-1"))
        local = str((scope.get("server") or ("",))[0] or "").lower().removeprefix("::ffff:")
        if name is None or (name not in self.names and name != local):
            response = JSONResponse({"error": "invalid Host header"}, status_code=400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _HeadersMiddleware:
    """Headers on every answer: no content sniffing, no referrer (a URL may hold the token)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]  # fmt: skip
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _TokenMiddleware:
    """Every request needs the token (bearer header or cookie) when bound beyond loopback."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        given = (
            given or request.cookies.get("ew_token", "") or request.query_params.get("token", "")
        )
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            response = JSONResponse({"error": "a token is required (?token=...)"}, status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
