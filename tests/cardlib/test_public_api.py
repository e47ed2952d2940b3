import subprocess
import sys

import pytest

import cardlib


@pytest.mark.parametrize("name", cardlib.__all__)
def test_every_export_resolves(name: str) -> None:
    assert getattr(cardlib, name).__name__ == name


def test_codecs_do_not_pull_in_pyscard() -> None:
    code = "import sys, cardlib.crypto, cardlib.tlv, cardlib.apdu, cardlib.fields; print('smartcard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unknown_name() -> None:
    with pytest.raises(AttributeError):
        cardlib.nope  # noqa: B018
