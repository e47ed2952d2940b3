"""One holder's card at a terminal: connect, read EF05/EF06 and prove the card genuine through a PSAM in one
session, check the PIN.

Shared by identify, settlement and the kiosk so each does the same steps in the same order. The PSAM is chosen
and opened where the program is put together (the `sscard` command, the pages' server); this module only receives
it. The PIN is taken from a hidden prompt or one line of stdin, never from the command line, and never appears in
a message.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
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
def visit(reader: str | None, *, pin: str | None = None, psam: Psam | None = None) -> Iterator[CardVisit]:
    """Connect and read the card, verified in the same session when a PSAM is at hand; verify the PIN when one is
    given.

    Raises cardlib's TransportError or CardError family (CardSecurityError, PinError) as they come."""
    from cardlib.pcsc import PcscTransport

    with PcscTransport(reader) as transport:
        channel = Channel(transport)
        session = None
        if psam is not None:
            info, session = security.verified_read(channel, psam)
        else:
            info = SocialSecurityApp(channel).read_card_info()
        if pin is not None:
            security.verify_pin(channel, pin)
        yield CardVisit(transport, channel, info, psam, session, pin is not None)
