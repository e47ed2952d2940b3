"""The program put together: the e-card server (ecard_server) with the terminal's page routes (terminal.pages_api)
and the PSAM the kiosk proves cards with, opened as the `sscard` command opens any PSAM (cli.open_psam).

ecard_server never imports terminal; this module is where the two meet. `sscard serve` runs `create_app`, and each
worker of `sscard serve --workers N` calls `create_app_from_env`; the tests build their servers with `create_app`
too, so they serve what a user's `sscard serve` does.
"""
from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from sscard_settings import Settings, db_option, ecard_keys_option

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(settings: Settings) -> FastAPI:
    """ecard_server.app.create_app with the counter, kiosk and batch routes of the pages included."""
    from cli import open_psam
    from ecard_server import app as server
    from ecard_server.deps import get_store, terminal_auth
    from ecard_server.routers.holder import loss_reporter
    from terminal.pages_api import ServerParts, build_router

    kiosk_psam = partial(open_psam, settings.kiosk_psam) if settings.kiosk_psam else None
    pages_api = build_router(ServerParts(store=get_store, terminal=terminal_auth, report_loss=loss_reporter),
                             settings.db_url, kiosk_psam)
    return server.create_app(settings, extra_routers=[pages_api])


def create_app_from_env() -> FastAPI:
    """The factory each `sscard serve --workers N` worker calls: the settings come from the SSCARD_ environment
    the command set up."""
    return create_app(Settings())


@click.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@ecard_keys_option
@click.option("--status-uri", help="Public URL of /status-list written into credentials (SSCARD_STATUS_URI).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes behind the one port (SSCARD_WORKERS; default 1).")
@click.option("--redis", "redis_url", help="Valkey/Redis URL for the shared state (SSCARD_REDIS; default: the "
                                           "holder database).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Server log as text, or one JSON object a line for a collector (SSCARD_LOG_FORMAT).")
def serve(db_url: str, host: str, port: int, keys_dir: str, status_uri: str | None, workers: int | None,
          redis_url: str | None, log_format: str | None) -> None:
    """Run the e-card server (FastAPI on uvicorn); OpenAPI docs at /docs."""
    import uvicorn

    from ecard_server.app import ConfigError
    from ecard_server.trail import log_config
    from sscard_settings import load

    settings = load(db=db_url, ecard_keys=keys_dir, workers=workers, redis=redis_url,
                    status_uri=status_uri or None, log_format=log_format)
    if settings.status_uri is None:
        settings = settings.model_copy(update={"status_uri": f"http://{host}:{port}/status-list"})
    try:
        app = create_app(settings)  # checked here, in this process, so a bad key set is one line, not N tracebacks
    except ConfigError as exc:
        raise click.ClickException(" ".join(str(exc).split())[:300]) from None
    # X-Forwarded-For is the app's to judge (Settings.trusted_proxies), never uvicorn's: its default trusts loopback
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "info", "access_log": False,
                               "proxy_headers": False, "log_config": log_config(settings.log_format)}
    if settings.workers == 1:
        uvicorn.run(app, **options)
        return
    for name, value in (("DB", settings.db_url), ("ECARD_KEYS", str(settings.ecard_keys_dir)),
                        ("STATUS_URI", settings.status_uri), ("REDIS", settings.redis),
                        ("LOG_FORMAT", settings.log_format)):
        if value:
            os.environ["SSCARD_" + name] = value
    os.environ.pop("SSCARD_KEYS", None)
    uvicorn.run("sscard_app:create_app_from_env", factory=True, workers=settings.workers, **options)
