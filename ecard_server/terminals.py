"""Terminal API keys: counters and kiosks that have read a card and checked its PIN may ask for activation codes.

A key is "<terminal id>.<secret>"; the key set directory keeps only SHA-256 of each secret in terminals.json, so
a copy of the directory's public files does not let anyone act as a terminal.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from pathlib import Path

FILE = "terminals.json"
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class TerminalError(ValueError):
    pass


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def load_terminals(keys_dir: str | Path) -> dict[str, str]:
    path = Path(keys_dir) / FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise TerminalError(f"{path} is not JSON") from None
    if not isinstance(data, dict):
        raise TerminalError(f"{path} must map terminal ids to secret hashes")
    return {str(k): str(v) for k, v in data.items()}


def add_terminal(keys_dir: str | Path, terminal_id: str) -> str:
    if not ID_RE.match(terminal_id):
        raise TerminalError("terminal id must be 1-40 letters, digits, '-' or '_'")
    d = Path(keys_dir)
    if not d.is_dir():
        raise TerminalError(f"{d} is not a key set directory; make one with `sscard keys new --out {d}`")
    table = load_terminals(d)
    secret = secrets.token_urlsafe(24)
    table[terminal_id] = _hash(secret)
    tmp = d / (FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(table, indent=2) + "\n")
    os.replace(tmp, d / FILE)  # a running server sees the old table or the new one, and a new inode
    return f"{terminal_id}.{secret}"


def check_api_key(table: dict[str, str], api_key: str | None) -> str | None:
    """The terminal id if `api_key` is one of ours, else None."""
    if not api_key or "." not in api_key or len(api_key) > 200:
        return None
    terminal_id, secret = api_key.split(".", 1)
    expected = table.get(terminal_id)
    if expected is None:
        hmac.compare_digest(_hash(secret), _hash(""))
        return None
    return terminal_id if hmac.compare_digest(_hash(secret), expected) else None
