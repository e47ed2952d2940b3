"""How the `sscard` command opens a PSAM named on the command line, apart from cardlib.cli so that the program can
install its opener without loading the card stack (every command pays for what `sscard` itself imports)."""
from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable

import click

PSAM_OPENER = "sscard.open_psam"  # ctx.meta key: the CLI's `open_psam(spec)`, set where the program is put together

_installed: list[Callable[[str | Path | None], AbstractContextManager[Any]]] = []


def install_psam_opener(ctx: click.Context, opener: Callable[[str | Path | None], AbstractContextManager[Any]]) -> None:
    """Where the program is put together (`sscard`): how a PSAM named on the command line is opened. Kept in the
    click context and for the process (a flow may run in a monitor's thread, outside the context)."""
    ctx.meta[PSAM_OPENER] = opener
    _installed[:] = [opener]


def psam_from_context(spec: str | Path | None) -> AbstractContextManager[Any]:
    """The PSAM named on the command line, opened by the opener the `sscard` command installed (cli.open_psam):
    cardlib and terminal never know how a software PSAM is made."""
    ctx = click.get_current_context(silent=True)
    opener = ctx.meta.get(PSAM_OPENER) if ctx else None
    opener = opener or (_installed[0] if _installed else None)
    if opener is None:
        raise click.UsageError("no PSAM opener: run this command through `sscard`")
    return opener(spec)
