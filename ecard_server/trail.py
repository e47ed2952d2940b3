"""The trail an operator reads to see an attack: every failed authentication (a device proof, a terminal key, a
relying party's signature, a login poll) is one log record on the `sscard.trail` logger, with the peer address,
what was tried and why it failed. Identifiers are masked and secrets never written: no PIN, key, token, poll
secret or ID number, only the first characters of a device id, a terminal's name, a session id.

`sscard serve --log-format json` (SSCARD_LOG_FORMAT=json) writes every log record, these and the server's own,
as one JSON object per line for a collector."""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

log = logging.getLogger("sscard.trail")
FIELDS = ("event", "kind", "who", "peer", "reason", "path")


def _printable(text: object, limit: int = 300) -> str:
    """No newline or control character from a request reaches a log line (a forged entry in the text format)."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text)[:limit])


def masked(ident: object, keep: int = 6) -> str:
    """The first `keep` characters of an identifier and its length: enough to tell attempts apart and match
    them with the audit trail, too little to be used."""
    text = _printable(ident, 200)
    if len(text) <= keep:
        return "*" * len(text)
    return f"{text[:keep]}…({len(text)})"


def _path(path: str) -> str:
    """The request path with long segments (session ids) masked."""
    return "/".join(masked(seg) if len(seg) > 16 else seg for seg in _printable(path).split("/"))


def auth_failed(kind: str, reason: str, peer: str, path: str, who: str | None = None) -> None:
    """One failed authentication. `who` is what the caller claimed to be (masked here)."""
    who_m, path, peer = masked(who) if who else "-", _path(path), _printable(peer, 64)
    log.warning("auth failed: %s %s from %s on %s: %s", kind, who_m, peer, path, reason,
                extra={"event": "auth_failed", "kind": kind, "who": who_m, "peer": peer, "reason": reason,
                       "path": path})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the trail's fields when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["error"] = record.exc_info[0].__name__ if record.exc_info[0] else "error"
        return json.dumps(out, ensure_ascii=False, default=str)


def log_config(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    """A logging dictConfig for uvicorn (its `log_config`) and the sscard loggers, in text or JSON lines."""
    formatter = ({"()": f"{__name__}.JsonFormatter"} if fmt == "json"
                 else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"})
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {name: {"handlers": ["main"], "level": level, "propagate": False}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sscard")},
    }
