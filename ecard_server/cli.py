"""`sscard serve`, `sscard keys new|terminal|withdraw|rp`, `sscard qr issue|verify|show`, `sscard card loss`: thin edges over the
e-card core. `qr verify` is a contract other tools script: exit 0 only for a valid code, otherwise a one-line
reason and a non-zero exit, never a traceback."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from sscard_settings import db_option, ecard_keys_option

EXIT_INVALID = 1
EXIT_INPUT = 3


def _emit(as_json: bool, data: dict[str, Any], line: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, sort_keys=True) if as_json else line)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


@click.command("new")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Key set directory.")
@click.option("--alg", type=click.Choice(["EdDSA", "ES256", "SM2"]), default="EdDSA", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def keys_new(out: str, alg: str, as_json: bool) -> None:
    """Make an issuer key set, or rotate it: the new key signs from now on, the old one stays in the JWKS until
    every token it signed has expired."""
    from ecard.keys import BadKeyError, new_key

    try:
        ks = new_key(out, alg)
    except (BadKeyError, OSError) as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    kids = [k.kid for k in ks.published()]
    _emit(as_json, {"dir": out, "current": ks.current.kid, "alg": alg, "published": kids,
                    "jwks": str(Path(out) / "jwks.json")},
          f"key set {out}: current {alg} key {ks.current.kid}; JWKS publishes {', '.join(kids)} "
          f"({Path(out) / 'jwks.json'})")


@click.command("terminal")
@ecard_keys_option
@click.option("--id", "terminal_id", required=True, help="Terminal name, e.g. counter-01.")
@click.option("--json", "as_json", is_flag=True)
def keys_terminal(keys_dir: str, terminal_id: str, as_json: bool) -> None:
    """Register a terminal that may request activation codes; prints its API key once (only a hash is kept)."""
    from ecard_server.terminals import TerminalError, add_terminal

    try:
        api_key = add_terminal(keys_dir, terminal_id)
    except (TerminalError, OSError) as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    _emit(as_json, {"terminal": terminal_id, "api_key": api_key},
          f"terminal {terminal_id}: API key (shown once) {api_key}")


@click.command("withdraw")
@click.argument("kid")
@ecard_keys_option
@click.option("--json", "as_json", is_flag=True)
def keys_withdraw(kid: str, keys_dir: str, as_json: bool) -> None:
    """Withdraw a compromised issuer key at once: it leaves the JWKS (a running server serves the new one on the
    next fetch, and verifiers that refresh it refuse the key's codes), its private key file is deleted. The
    current key is first replaced by a new one of the same algorithm."""
    from ecard.keys import BadKeyError, withdraw_key

    try:
        ks, rotated = withdraw_key(keys_dir, kid)
    except (BadKeyError, OSError) as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    kids = [k.kid for k in ks.published()]
    _emit(as_json, {"withdrawn": kid, "current": ks.current.kid, "rotated": rotated, "published": kids},
          f"key {kid} withdrawn{'; new current key ' + ks.current.kid if rotated else ''}; JWKS publishes "
          f"{', '.join(kids)}")


@click.command("rp")
@click.argument("name")
@db_option
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="Make a new key and write it here (mode 0600) for the relying party to sign with.")
@click.option("--jwk", "jwk_file", type=click.Path(dir_okay=False, exists=True),
              help="Register this public JWK instead (the relying party keeps its own private key).")
@click.option("--alg", type=click.Choice(["EdDSA", "ES256", "SM2"]), default="EdDSA", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def keys_rp(name: str, db_url: str, out_file: str | None, jwk_file: str | None, alg: str, as_json: bool) -> None:
    """Register a scan-to-login relying party with its own key (or re-key it): only login-session requests it
    signs speak for NAME, and NAME is what its pairwise holder subjects are derived from."""
    import re

    from ecard.keys import BadKeyError, VerifyKey, generate, verify_key_from_jwk
    from holder_db.ecard import EcardStore, StoreError

    if not re.fullmatch(r"[\w.:/-]{1,64}", name):
        raise click.UsageError("NAME must be 1-64 letters, digits or . : / - _")
    if bool(out_file) == bool(jwk_file):
        raise click.UsageError("give either --out (make a key) or --jwk (register the relying party's own key)")
    if out_file and Path(out_file).exists():
        raise click.ClickException(f"{out_file} exists; give a new file")
    try:
        if jwk_file:
            pub = verify_key_from_jwk(json.loads(Path(jwk_file).read_text(encoding="utf-8")))
        else:
            key = generate(alg)
            pub = key.public()
        pub = VerifyKey(pub.alg, pub.key)
        EcardStore(db_url).register_relying_party(name, pub.jwk(), pub.alg, "cli keys rp")
    except (BadKeyError, StoreError, OSError, ValueError) as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    if out_file:
        fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"relying_party": name, "alg": alg, "key_pem": key.pem().decode()}, f, indent=2)
    _emit(as_json, {"relying_party": name, "alg": pub.alg, "key_file": out_file, "jwk": pub.jwk()},
          f"relying party {name} registered ({pub.alg} key {pub.jwk()['kid']})"
          + (f"; its private key is in {out_file} (keep it private)" if out_file else ""))


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {what} file {path}: {exc.__class__.__name__}") from None


@click.command("verify")
@click.argument("token")
@click.option("--jwks", "jwks_file", required=True, type=click.Path(dir_okay=False), help="Issuer JWKS file.")
@click.option("--status-list", "status_file", type=click.Path(dir_okay=False), help="Status list JWT file.")
@click.option("--now", "now", type=float, help="Verify as of this Unix time (default: the clock).")
@click.option("--replay-cache", "replay_file", type=click.Path(dir_okay=False),
              help="File remembering accepted codes between runs (reject replays across invocations); FILE.log beside it.")
@click.option("--json", "as_json", is_flag=True)
def qr_verify(token: str, jwks_file: str, status_file: str | None, now: float | None, replay_file: str | None,
              as_json: bool) -> None:
    """Verify an e-card QR token offline (TOKEN "-" reads one line from stdin, e.g. from a scanner). Exit 0 only for
    a valid code; otherwise print the reason and exit 1 (3 if the JWKS or status list cannot be used)."""
    from ecard.keys import BadKeyError, Jwks
    from ecard.status_list import StatusListError, load
    from ecard.replay import ReplayCache, ReplayFile
    from ecard.verify import verify

    now = time.time() if now is None else now
    line: str | bytes = token
    if token == "-":  # the scanner's bytes as they are: verify() calls anything but ASCII malformed
        line = sys.stdin.buffer.readline(4096).strip() if sys.stdin else b""
    try:
        try:
            jwks = Jwks.from_json(_read_text(jwks_file, "JWKS"))
            status = load(_read_text(status_file, "status list").strip(), jwks, now) if status_file else None
            cache = ReplayFile(replay_file, now) if replay_file else ReplayCache()
        except (BadKeyError, ValueError, OSError) as exc:
            reason = getattr(exc, "reason", "bad_input")
            _emit(as_json, {"valid": False, "reason": reason, "detail": _one_line(str(exc))},
                  f"invalid: {reason}: {_one_line(getattr(exc, 'detail', str(exc)))}")
            sys.exit(EXIT_INPUT)
        for warning in getattr(cache, "warnings", ()):
            click.echo(f"warning: {warning}", err=True)
        result = verify(line, jwks, status, now, cache)
    except Exception as exc:  # the contract: one line, never a traceback
        _emit(as_json, {"valid": False, "reason": "error", "detail": exc.__class__.__name__},
              f"invalid: error: {exc.__class__.__name__}")
        sys.exit(EXIT_INVALID)
    if result.valid:
        _emit(as_json, result.as_dict(), f"valid: {result.kind} code, handle {result.sub}, key {result.kid}, "
                                          f"expires in {int(result.exp - now)} s"
                                          + ("" if result.status_checked else " (status not checked)"))
        return
    _emit(as_json, result.as_dict(), f"invalid: {result.reason}: {_one_line(result.detail)}")
    sys.exit(EXIT_INVALID)


@click.command("show")
@click.argument("token")
@click.option("--png", "png_file", type=click.Path(dir_okay=False), help="Write a PNG here.")
@click.option("--svg", "svg_file", type=click.Path(dir_okay=False), help="Write an SVG here.")
@click.option("--scale", type=click.IntRange(1, 40), default=6, show_default=True, help="Pixels per module.")
@click.option("--json", "as_json", is_flag=True)
def qr_show(token: str, png_file: str | None, svg_file: str | None, scale: int, as_json: bool) -> None:
    """Render a token as a QR code in the terminal (Unicode half blocks), and as PNG and/or SVG."""
    from ecard import render as qr_render

    try:
        if png_file:
            Path(png_file).write_bytes(qr_render.png(token, scale))
        if svg_file:
            Path(svg_file).write_text(qr_render.svg(token, scale), encoding="utf-8")
        art = qr_render.terminal(token)
    except (qr_render.RenderError, OSError) as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    if as_json:
        _emit(True, {"chars": len(token), "png": png_file, "svg": svg_file}, "")
    else:
        click.echo(art)


@click.command("issue")
@ecard_keys_option
@db_option
@click.option("--ssn", required=True, help="Social security number of the holder.")
@click.option("--ttl", type=click.IntRange(1, 300), default=60, show_default=True, help="Validity in seconds.")
@click.option("--json", "as_json", is_flag=True)
def qr_issue(keys_dir: str, db_url: str | None, ssn: str, ttl: int, as_json: bool) -> None:
    """Print a server-signed dynamic QR token for a holder whose card is active."""
    from cardlib.idnumber import mask
    from ecard.keys import BadKeyError, load_keyset
    from holder_db.ecard import EcardStore, StoreError
    from ecard.tokens import SUB_BYTES, issue_online

    try:
        ks = load_keyset(keys_dir)
        store = EcardStore(db_url)
        holder = store.find_holder(ssn=ssn)
        why = store.refusal(holder.holder_id)
        if why is not None:
            raise StoreError(f"{mask(ssn)}: {why}; no e-card codes are issued", 409)
        now = int(time.time())
        # a handle and status index of this code alone, like the server's (holder_db.ecard.issue_codes)
        code = store.issue_codes(store.desk_device(holder.holder_id).kid, "online", now + ttl,
                                 handle_bytes=SUB_BYTES)[0]
    except (BadKeyError, StoreError) as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    token = issue_online(ks.current, code.handle, code.status_idx, now, ttl)
    _emit(as_json, {"token": token, "expires_at": now + ttl, "chars": len(token), "status_idx": code.status_idx},
          token)


@click.command("loss")
@click.argument("ssn", required=False)
@click.option("--card-no", help="Card number instead of the SSN.")
@db_option
@click.option("--json", "as_json", is_flag=True)
def card_loss(ssn: str | None, card_no: str | None, db_url: str | None, as_json: bool) -> None:
    """Report a card lost: the card moves to 'lost' and its e-card codes are revoked at once."""
    from cardlib.idnumber import mask
    from holder_db.ecard import EcardStore, StoreError

    if bool(ssn) == bool(card_no):
        raise click.UsageError("give either SSN or --card-no")
    try:
        store = EcardStore(db_url)
        holder = store.find_holder(ssn=ssn, card_no=card_no)
        result = store.report_loss(holder.holder_id, "cli")
    except StoreError as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    _emit(as_json, {"holder": mask(holder.ssn), "card_status": result.card_status, "revoked": result.revoked},
          f"card of {mask(holder.ssn)} is now {result.card_status}; revoked status indices "
          f"{', '.join(map(str, result.revoked)) or '(none: no e-card bound)'}")
