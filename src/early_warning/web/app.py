"""The workbench's web layer (Starlette, Jinja2 templates, a little JavaScript).

Security: served on 127.0.0.1 by default; on any other address a token from the
configuration is required (a bearer header or the cookie set by `/?token=...`).
Every state-changing request must carry the page's CSRF token in `X-CSRF-Token`
(a header a cross-site form cannot set) and, when the browser sends one, an Origin
equal to the server's. Bodies over 64 KiB are refused. Templates escape everything;
the script writes text with `textContent`. No script, style or font comes from
elsewhere, so the page works with no network.
"""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..catalog import Catalog
from ..errors import EarlyWarningError, InputError, NotFoundError
from ..ingest import Limits, observe
from ..ingest.validate import OBSERVATION_COLUMNS
from ..periods import PeriodError
from .workbench import PROFILE_NAME, Workbench

__all__ = ["create_app"]

HERE = Path(__file__).parent
MAX_BODY = 64 * 1024


def create_app(
    db_path: Path,
    catalog: Catalog,
    models_dir: Path,
    *,
    subject: str = "BLR",
    token: str = "",
    author: str = "workbench",
    hosts: tuple[str, ...] = (),
) -> Starlette:
    """The workbench app; `hosts` are the names it answers to besides loopback (a Host
    header naming anything else is refused, which stops DNS rebinding)."""
    bench = Workbench(db_path, catalog, models_dir)
    csrf = secrets.token_urlsafe(24)
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )

    def page(name: str, **context: Any) -> HTMLResponse:
        text = templates.get_template(name).render(csrf=csrf, subject=subject, **context)
        return HTMLResponse(text, headers={"Content-Security-Policy": _CSP})

    async def index(request: Request) -> Response:
        if token and request.query_params.get("token"):
            response = RedirectResponse("/", status_code=303)
            response.set_cookie("ew_token", request.query_params["token"], httponly=True,
                                samesite="strict")  # fmt: skip
            return response
        chosen = _profile_name(request.query_params.get("profile", "default"))
        session = bench.session(subject, chosen)
        families = [
            {
                "id": f.id, "name": f.name, "weight": session.saved.family_weights[f.id],
                "indicators": [
                    {"id": i, "name": catalog.indicators[i].name,
                     "weight": session.saved.indicator_weights[i]}
                    for i in f.indicators
                ],
            }
            for f in catalog.families.values()
        ]  # fmt: skip
        return page(
            "index.html", families=families, profile=session.saved, as_of=session.as_of,
            profiles=bench.profiles(), timeline=json.dumps(bench.timeline(session)),
        )  # fmt: skip

    async def indicator(request: Request) -> Response:
        ind_id = request.path_params["indicator"]
        if ind_id not in catalog.indicators:
            raise NotFoundError(f"indicator {ind_id!r}: not in the catalog")
        ind = catalog.indicators[ind_id]
        with bench.store() as store:
            observations = store.observations(indicator=ind_id, all_revisions=True, limit=500)
            rejects = [
                r for r in store.db.query(
                    # The raw row of any format names the indicator as a whole word.
                    "SELECT * FROM rejects WHERE raw LIKE ? ORDER BY id DESC LIMIT 500",
                    [f"%{ind_id}%"],
                )
            ]  # fmt: skip
        citations = [
            {"reference": catalog.sources[c.source].reference() if c.source in catalog.sources
             else c.source, "section": c.section, "quote": c.quote}
            for c in ind.citations
        ]  # fmt: skip
        return page("indicator.html", ind=ind, observations=observations, rejects=rejects,
                    citations=citations)  # fmt: skip

    async def api_score(request: Request) -> Response:
        payload = await _json(request, csrf)
        session = bench.session(subject, _profile_name(payload.get("profile", "default")))
        result = bench.rescore(session, payload)
        return JSONResponse(
            result, headers={"Server-Timing": f"score;dur={result['seconds'] * 1e3:.3f}"}
        )

    async def api_backtest(request: Request) -> Response:
        payload = await _json(request, csrf)
        session = bench.session(subject, _profile_name(payload.get("profile", "default")))
        return JSONResponse(bench.backtest(session, payload))

    async def api_profiles(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(bench.profiles())
        payload = await _json(request, csrf)
        session = bench.session(subject, _profile_name(payload.get("profile", "default")))
        who = str(payload.get("author") or author)
        if len(who) > 200:
            raise InputError("author: at most 200 characters")
        return JSONResponse(bench.save(session, payload, who), status_code=201)

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
            "message": result.summary(),
        }  # fmt: skip
        status = 201 if result.rows_loaded else (422 if result.rows_rejected else 200)
        return JSONResponse(body, status_code=status)

    routes = [
        Route("/", index),
        Route("/indicator/{indicator}", indicator),
        Route("/api/score", api_score, methods=["POST"]),
        Route("/api/backtest", api_backtest, methods=["POST"]),
        Route("/api/profiles", api_profiles, methods=["GET", "POST"]),
        Route("/api/observations", api_observation, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        EarlyWarningError: _error, ValueError: _error, 404: _not_found,
    })  # fmt: skip
    if token:
        app.add_middleware(_TokenMiddleware, token=token)
    allowed = ["127.0.0.1", "localhost", "::1", "[::1]", *hosts]
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed)
    app.state.bench = bench
    return app


def _profile_name(value: Any) -> str:
    """A saved profile by name only (never a path on the server)."""
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
        raise _Forbidden("missing or wrong CSRF token (reload the page)")
    origin = request.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != request.headers.get("host", ""):
        raise _Forbidden(f"cross-origin request from {origin} refused")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InputError(f"request body over {MAX_BODY} bytes")
    try:
        payload = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("the request body is not JSON") from None
    except RecursionError:
        raise InputError("the request body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise InputError("the request body must be a JSON object")
    return payload


class _Forbidden(EarlyWarningError):
    pass


async def _error(request: Request, exc: Exception) -> Response:
    status = 400
    if isinstance(exc, _Forbidden):
        status = 403
    elif isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, PeriodError):
        status = 400
    return JSONResponse({"error": str(exc)}, status_code=status)


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "not found"}, status_code=404)


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
