"""One Settings object for every sscard command and for the e-card server (`create_app(settings)`).

Each value comes from, in this order: the command-line option, the environment (`SSCARD_` + the field name in
capitals, e.g. SSCARD_DB, SSCARD_ECARD_KEYS, SSCARD_REDIS, SSCARD_LIMITS as JSON), the default below. Library
code takes the values it needs as arguments; only the commands read the environment, through here.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Callable, Literal

import click
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# name -> (requests per minute, burst), per client (peer address, terminal or holder)
DEFAULT_LIMITS: dict[str, tuple[float, int]] = {
    "activation": (10, 5),
    "terminal_limit": (120, 30),
    "holder_codes": (2, 5),
    "login_create": (30, 10),
    "login_device": (20, 5),
    "login_poll": (120, 20),
    "token": (30, 20),  # per device: each online code and each credential batch writes a row (ecard_codes)
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SSCARD_", extra="ignore", frozen=True, populate_by_name=True)

    db: str | None = Field(None, description="holder_db URL; None: the SQLite file var/sscard.db")
    var: Path = Field(Path("var"), description="the folder for the default database, keys, receipts and caches")
    ecard_keys: Path | None = Field(None, validation_alias=AliasChoices("SSCARD_ECARD_KEYS", "SSCARD_KEYS"),
                                    description="e-card issuer key set; None: <var>/ecard-keys")
    issuer_keys: Path | None = Field(None, description="issuer card keys (software PSAM); None: <var>/issuer-keys")
    receipts: Path | None = Field(None, description="receipts folder; None: <var>/receipts")
    status_uri: str | None = Field(None, description="public URL of /status-list written into credentials")
    redis: str | None = Field(None, description="Valkey/Redis URL for the server's shared state; None: the database")
    workers: int = Field(1, ge=1, le=64, description="`sscard serve` worker processes")

    activation_ttl: int = Field(300, ge=30, description="seconds an activation code stays valid")
    offline_credential_ttl: int = Field(7 * 86400, ge=60, description="lifetime of an offline credential, seconds")
    sd_jwt_ttl: int = Field(30 * 86400, ge=60, description="lifetime of an SD-JWT credential, seconds")
    request_max_age: int = Field(60, ge=5, le=600, description="how old a device request proof may be, seconds")
    login_ttl: int = Field(120, ge=10, description="seconds a scan-to-login session stays open")
    status_list_ttl: int = Field(3600, ge=60, description="lifetime of a signed status list, seconds")
    limits: dict[str, tuple[float, int]] = Field(default_factory=lambda: dict(DEFAULT_LIMITS),
                                                 description="rate limits: name -> (per minute, burst)")
    max_body: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024,
                          description="largest request body the server reads, bytes; a larger one is a 413 unread")
    trusted_proxies: list[str] = Field(default_factory=list,
                                       description="addresses or networks of reverse proxies whose X-Forwarded-For "
                                                   "names the client (JSON list); none: the peer address counts")
    log_format: Literal["text", "json"] = Field("text", description="server log: text, or one JSON object a line")
    cert_grace_days: int = Field(90, ge=0, le=3650, description="days after a year's certification deadline a "
                                 "pension is still paid to a holder not certified (then held: not_certified)")
    ecard_batch: int = Field(5, ge=1, le=20, description="offline and SD-JWT credentials per batch, each used once "
                                                         "with its own device key (unlinkable codes)")
    kiosk_psam: str | None = Field(None, description="the PSAM the kiosk page proves cards with before a holder "
                                   "certifies (a reader name or a software PSAM folder); None: the page cannot certify")

    def model_post_init(self, _context: Any) -> None:
        unknown = set(self.limits) - set(DEFAULT_LIMITS)
        if unknown:
            raise ValueError(f"unknown rate limit(s) {sorted(unknown)}; known: {sorted(DEFAULT_LIMITS)}")
        object.__setattr__(self, "limits", {**DEFAULT_LIMITS, **self.limits})
        for net in self.trusted_proxies:
            ipaddress.ip_network(net, strict=False)  # ValueError names the bad entry

    @property
    def ecard_keys_dir(self) -> Path:
        return self.ecard_keys or self.var / "ecard-keys"

    @property
    def issuer_keys_dir(self) -> Path:
        return self.issuer_keys or self.var / "issuer-keys"

    @property
    def receipts_dir(self) -> Path:
        return self.receipts or self.var / "receipts"

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.var / 'sscard.db'}"


def load(**overrides: Any) -> Settings:
    """The settings, with the options a command was given (those not None) over the environment."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise click.UsageError(f"bad SSCARD_ setting: {' '.join(str(exc).split())[:300]}") from None


def _resolve(field: str, attr: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        return getattr(load(**{field: value}), attr)

    return callback


def db_option(f: Any) -> Any:
    """`--db URL`, resolved through Settings (SSCARD_DB, else <var>/sscard.db) to a URL string."""
    return click.option("--db", "db_url", default=None, callback=_resolve("db", "db_url"),
                        help="holder_db URL (default: SSCARD_DB, else the SQLite file var/sscard.db).")(f)


def ecard_keys_option(f: Any) -> Any:
    """`--keys DIR` for the e-card issuer key set, resolved through Settings (default var/ecard-keys)."""
    return click.option("--keys", "keys_dir", default=None, type=click.Path(file_okay=False),
                        callback=lambda c, p, v: str(_resolve("ecard_keys", "ecard_keys_dir")(c, p, v)),
                        help="E-card issuer key set (default: SSCARD_ECARD_KEYS, else var/ecard-keys).")(f)


def receipts_option(f: Any) -> Any:
    return click.option("--receipts", "receipts_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=None, callback=_resolve("receipts", "receipts_dir"),
                        help="Directory for the receipts, text and JSON (default: SSCARD_RECEIPTS, else "
                             "var/receipts).")(f)
