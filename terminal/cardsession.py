"""One holder's card at a terminal: connect, read EF05/EF06 and prove the card genuine through a PSAM in one
session, check the PIN.

Shared by identify, settlement and the kiosk so each does the same steps in the same order. The PSAM is chosen
where the program is put together (the `sscard` command); this module receives it or asks the CLI to open the one
named on the command line. The PIN is taken from a hidden prompt or one line of stdin, never from the command line,
and never appears in a message.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import click

from cardlib import security
from cardlib.channel import Channel
from cardlib.psam import Psam
from cardlib.ssapp import CardInfo, SocialSecurityApp


@dataclass
class CardVisit:
    transport: object
    channel: Channel
    info: CardInfo
    psam: Psam | None
    session: security.CardSession | None  # set once the card proved genuine (verified read)
    pin_checked: bool


def read_pin(pin_stdin: bool, prompt: str = "PIN") -> str:
    if pin_stdin:
        return sys.stdin.readline().strip()
    return click.prompt(prompt, hide_input=True, err=True)


@contextmanager
def open_psam(keys_dir: Path | None, psam_reader: str | None) -> Iterator[Psam | None]:
    """The PSAM named on the command line (--keys DIR / --psam READER|DIR), opened by the CLI; None if none."""
    spec = keys_dir or psam_reader
    if spec is None:
        yield None
        return
    from cardlib.cli import psam_from_context

    with psam_from_context(spec) as psam:
        yield psam


@contextmanager
def visit(reader: str | None, *, pin: str | None = None, psam: Psam | None = None, keys_dir: Path | None = None,
          psam_reader: str | None = None) -> Iterator[CardVisit]:
    """Connect and read the card, verified in the same session when a PSAM is at hand (`psam`, or the one the
    command line names); verify the PIN when one is given.

    Raises cardlib's TransportError or CardError family (CardSecurityError, PinError) as they come."""
    from cardlib.pcsc import PcscTransport

    with open_psam(None if psam else keys_dir, None if psam else psam_reader) as named, \
            PcscTransport(reader) as transport:
        psam = psam or named
        channel = Channel(transport)
        session = None
        if psam is not None:
            info, session = security.verified_read(channel, psam)
        else:
            info = SocialSecurityApp(channel).read_card_info()
        if pin is not None:
            security.verify_pin(channel, pin)
        yield CardVisit(transport, channel, info, psam, session, pin is not None)
