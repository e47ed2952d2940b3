"""One holder's card at a terminal: connect, read EF05/EF06, prove the card genuine through a PSAM, check the PIN.

Shared by identify, settlement and the kiosk so each does the same steps in the same order. The PIN is taken
from a hidden prompt or one line of stdin, never from the command line, and never appears in a message.
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
    """The PSAM: the simulated one in process from an issuer key directory, one in a reader, or none."""
    if keys_dir is not None:
        from cardlib.transport import LoopbackTransport
        from simulators.psam import Psam as SimulatedPsam

        loop = LoopbackTransport(SimulatedPsam.from_dir(keys_dir))
        loop.connect()
        yield Psam(loop)
        return
    if psam_reader is not None:
        from cardlib.pcsc import PcscTransport

        with PcscTransport(psam_reader) as t:
            yield Psam(Channel(t))
        return
    yield None


@contextmanager
def visit(reader: str | None, *, pin: str | None = None, keys_dir: Path | None = None,
          psam_reader: str | None = None) -> Iterator[CardVisit]:
    """Connect and read the card; authenticate it when a PSAM is at hand; verify the PIN when one is given.

    Raises cardlib's TransportError / CardError / CardSecurityError / PinError as they come."""
    from cardlib.pcsc import PcscTransport

    with open_psam(keys_dir, psam_reader) as psam, PcscTransport(reader) as transport:
        channel = Channel(transport)
        info = SocialSecurityApp(channel).read_card_info()
        session = security.authenticate(channel, psam, transport.atr) if psam is not None else None
        if pin is not None:
            security.verify_pin(channel, pin)
        yield CardVisit(transport, channel, info, psam, session, pin is not None)
