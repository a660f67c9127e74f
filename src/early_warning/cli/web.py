"""The `serve` command: the analyst workbench in a browser."""

from __future__ import annotations

import click

from ..errors import ConfigError
from .common import (
    App,
    login,
    pass_app,
)

__all__ = ["serve_command"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command(
    name="serve",
    short_help="The analyst workbench in a browser: tune weights, compare, backtest, audit.",
)
@click.option("--host", help="Address to listen on (default from [web] host: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default from [web] port: 8765).")
@click.option("--subject", metavar="CODE", help="Subject (default from the configuration).")
@pass_app
def serve_command(app: App, host: str | None, port: int | None, subject: str | None) -> None:
    """The analyst workbench: tune weights and see the whole history move, compare with
    the saved profile, backtest, save with a note, audit indicators, enter observations.

    Served on 127.0.0.1 by default; any other address needs [web] token (at least 16
    characters) in the configuration (open http://HOST:PORT/?token=...).
    """
    import uvicorn

    from ..web import create_app
    from ..web.app import check_token

    host = host or app.config.get("web", "host")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::1] as in a URL: the address is ::1
    port = port or app.config.get("web", "port")
    token = app.config.get("web", "token")
    check_token(token)
    if host not in LOOPBACK and not token:
        raise ConfigError(
            f"--host {host}: serving beyond 127.0.0.1 needs [web] token in the configuration"
        )
    with app.store() as store:
        subject = subject or app.config.default_subject
        known = store.subjects()
    if subject not in known:
        raise ConfigError(f"--subject: no observations for {subject} (ingest data first)")
    beyond = host not in LOOPBACK
    web = create_app(app.config.db_path, app.catalog, app.config.models_dir, subject=subject,
                     token=token if beyond else "", author=login(),
                     hosts=(host,) if beyond else ())  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"early-warning workbench on http://{shown}:{port}/ (Ctrl-C to stop)", err=True)
    uvicorn.run(web, host=host, port=port, log_level="warning")
