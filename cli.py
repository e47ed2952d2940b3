"""The `sscard` command: one entry point for every job in the toolkit.

Each package owns its commands (`<package>/cli.py`); this module only maps command paths to them and imports a
package when its command is used, so `sscard --help` stays fast and a missing optional part breaks one command,
not all of them.
"""
from __future__ import annotations

import importlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click

# command path -> "module:attribute" of a click command, or a nested table for a group.
COMMANDS: dict[str, Any] = {
    "sim": {
        "new": "simulators.cli:sim_new",
        "serve": "simulators.cli:sim_serve",
        "blanks": "simulators.services_cli:sim_blanks",
        "psam": "simulators.services_cli:sim_psam",
    },
    "readers": "cardlib.cli:readers",
    "card": {
        "read": "cardlib.cli:card_read",
        "pin": {
            "verify": "terminal.services_cli:pin_verify",
            "change": "terminal.services_cli:pin_change",
            "unblock": "terminal.services_cli:pin_unblock",
        },
        "bank": "terminal.services_cli:card_bank",
        "update": "terminal.services_cli:card_update",
        "loss": "ecard_server.cli:card_loss",
    },
    "keys": {
        "new-issuer": "terminal.services_cli:keys_new_issuer",
        "new": "ecard_server.cli:keys_new",
        "terminal": "ecard_server.cli:keys_terminal",
        "withdraw": "ecard_server.cli:keys_withdraw",
        "rp": "ecard_server.cli:keys_rp",
    },
    "serve": "sscard_app:serve",
    "qr": {
        "issue": "ecard_server.cli:qr_issue",
        "verify": "ecard_server.cli:qr_verify",
        "show": "ecard_server.cli:qr_show",
    },
    "ecard": {
        "sample": "ecard_server.device_cli:sample",
        "activation-code": "ecard_server.device_cli:activation_code",
        "activate": "ecard_server.device_cli:activate",
        "code": "ecard_server.device_cli:code",
        "loss": "ecard_server.device_cli:loss",
        "access-log": "ecard_server.device_cli:access_log",
    },
    "personalize": "terminal.personalize:personalize_command",
    "terminal": {
        "identify": "terminal.cli:identify",
        "pay": "terminal.cli:pay",
        "settle": "terminal.cli:settle",
        "refund": "terminal.cli:refund",
        "gate": "terminal.cli:gate",
        "kiosk": "terminal.cli:kiosk",
    },
    "db": {
        "init": "holder_db.cli:db_init",
        "import": "holder_db.cli:db_import",
        "seed": "holder_db.cli:db_seed",
        "show": "holder_db.cli:db_show",
        "card-add": "holder_db.cli:db_card_add",
        "card-status": "holder_db.cli:db_card_status",
        "enrol": "holder_db.cli:db_enrol",
        "import-entitlements": "holder_db.cli:db_import_entitlements",
        "import-records": "holder_db.cli:db_import_records",
        "fund": "holder_db.cli:db_fund",
        "ledger": {"check": "holder_db.cli:db_ledger_check"},
    },
    "cert": {
        "run": "terminal.cert_cli:cert_run",
        "show": "terminal.cert_cli:cert_show",
        "self": "terminal.cert_cli:cert_self",
        "proxy": "terminal.cert_cli:cert_proxy",
    },
    "proxy": {
        "bind": "terminal.cert_cli:proxy_bind",
        "list": "terminal.cert_cli:proxy_list",
        "revoke": "terminal.cert_cli:proxy_revoke",
    },
}

HELP = {
    "readers": "List PC/SC readers and whether a card is in each.",
    "serve": "Run the e-card server (FastAPI on uvicorn); OpenAPI docs at /docs.",
    "personalize": "Personalize blank cards from a hopper for holders due a card.",
    "sim": "Software cards: make card images and serve them in the virtual reader.",
    "card": "Talk to a card in a PC/SC reader.",
    "db": "The cardholder base-information store.",
    "keys": "Issuer key sets.",
    "ledger": "The double-entry ledger: reconciliation.",
    "pin": "The holder's PIN: verify, change, unblock (under secure messaging).",
    "qr": "E-card QR codes.",
    "ecard": "The e-card from a shell: counter activation code, phone activation, codes, loss; a sample holder.",
    "terminal": "Counter, kiosk, hospital, merchant and gate flows.",
    "cert": "Benefit eligibility certification (待遇资格认证): silent pass, self and proxy certification.",
    "proxy": "Family proxy (亲情服务): bind a relative as proxy, list, revoke.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands come from a table and are imported on first use."""

    def __init__(self, *args: Any, table: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.table) | set(self.commands))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands from the table and HELP, importing only those HELP does not describe (so
        `sscard --help` loads no package)."""
        rows = []
        for name in self.list_commands(ctx):
            if name in HELP:
                rows.append((name, HELP[name]))
            else:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = self.table.get(name)
        if target is None:
            return None
        if isinstance(target, dict):
            command: click.Command = LazyGroup(name=name, table=target, help=HELP.get(name))
        else:
            module_name, attr = target.split(":")
            try:
                command = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                return _broken(name, target, exc)
        self.commands[name] = command
        return command


def _broken(name: str, target: str, exc: Exception) -> click.Command:
    """Stands in for a command whose module fails to import, so one broken part does not break the rest."""

    @click.command(name=name, help=f"(unavailable: {exc})", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def broken(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"command {name!r} is unavailable: {target} failed to load ({exc})")

    return broken


@contextmanager
def open_psam(spec: str | Path | None) -> Iterator[Any]:
    """The PSAM the operator named: a software PSAM folder (an issuer key directory, run in process) or the name of
    the reader that holds a PSAM card; None when none was named. The one place that knows both kinds."""
    if spec is None:
        yield None
        return
    from cardlib.psam import Psam

    path = Path(spec)
    if path.is_dir():
        from cardlib.transport import LoopbackTransport
        from simulators.psam import Psam as SoftwarePsam

        with LoopbackTransport(SoftwarePsam.from_dir(path)) as loop:
            yield Psam(loop, name=f"software PSAM {path}")
        return
    from cardlib.pcsc import PcscTransport

    with PcscTransport(str(spec)) as transport:
        yield Psam(transport, name=f"PSAM in {spec}")


@click.group(cls=LazyGroup, table=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sscard")
@click.option("--trace", is_flag=True, help="Print every APDU (redacted: no PIN, key or full ID number) to stderr.")
@click.pass_context
def main(ctx: click.Context, trace: bool = False) -> None:
    """sscard: the social security card and e-card toolkit."""
    from cardlib.psam_opener import install_psam_opener

    install_psam_opener(ctx, open_psam)
    if trace:
        import logging

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        apdu_log = logging.getLogger("cardlib.apdu")
        apdu_log.addHandler(handler)
        apdu_log.setLevel(logging.DEBUG)


if __name__ == "__main__":
    main()
