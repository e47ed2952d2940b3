"""QR rendering checked with a real decoder (zbar through pyzbar): PNG, terminal half blocks, SVG."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

from ecard import keys, tokens
from ecard import render as qr_render

NOW = 1_800_000_000


def _tokens():
    out = []
    for alg in keys.ALGS:
        k, d = keys.generate(alg), keys.generate(alg)
        out.append(tokens.issue_online(k, bytes(10), 3, NOW))
        out.append(tokens.present(tokens.issue_credential(k, bytes(10), 3, d.public(), NOW, 86400), d, NOW))
    return out


def decode(img: Image.Image) -> list[str]:
    return [r.data.decode("ascii") for r in pyzbar.decode(img.convert("L"), symbols=[ZBarSymbol.QRCODE])]


@pytest.mark.parametrize("token", _tokens() + ["SSC1:" + "Ab-_" * 111 + "x"])
def test_png_decodes_to_the_exact_token(token):
    img = Image.open(io.BytesIO(qr_render.png(token, scale=4)))
    assert img.format == "PNG"
    assert decode(img) == [token]


def test_terminal_half_blocks_decode_back():
    token = _tokens()[1]
    art = qr_render.terminal(token, invert=False)
    lines = art.split("\n")
    top = {" ": False, "█": True, "▀": True, "▄": False}
    bottom = {" ": False, "█": True, "▀": False, "▄": True}
    rows = []
    for line in lines:
        rows.append([top[c] for c in line])
        rows.append([bottom[c] for c in line])
    w, h = len(rows[0]), len(rows)
    img = Image.new("L", (w, h), 255)
    img.putdata([0 if dark else 255 for row in rows for dark in row])
    assert decode(img.resize((w * 4, h * 4), Image.NEAREST)) == [token]
    inverted = qr_render.terminal(token, invert=True)
    assert inverted.translate(str.maketrans("█ ▀▄", " █▄▀")) == art


def test_svg_decodes_to_the_exact_token():
    """Rasterize the SVG's module rectangles (zxing-cpp writes them as path M x y h w v h steps) and decode it."""
    token = _tokens()[3]
    svg = qr_render.svg(token, scale=1)
    size = int(re.search(r'<svg width="(\d+)"', svg).group(1))
    img = Image.new("L", (size, size), 255)
    steps = re.findall(r"M(\d+) (\d+)h(\d+)v(\d+)", re.search(r'<path d="([^"]+)"', svg).group(1))
    assert steps
    for x, y, w, h in (map(int, step) for step in steps):
        img.paste(0, (x, y, x + w, y + h))
    assert decode(img.resize((size * 4, size * 4), Image.NEAREST)) == [token]


@pytest.mark.parametrize("bad", ["", "x" * 8000])
def test_unrenderable_input_is_an_error_not_a_crash(bad):
    with pytest.raises(qr_render.RenderError):
        qr_render.png(bad)
