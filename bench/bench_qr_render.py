"""Rendering a 450-character e-card token as a PNG with zxing-cpp (ecard/render.py); goal <= 5 ms. Pure-Python
encoders (segno, qrcode) are measured in the same run when installed, as the baseline.

    .venv/bin/python bench/bench_qr_render.py [--json] [--n N]
"""
from __future__ import annotations

import argparse
import io
import json
import secrets
import time

from ecard.keys import b64u
from ecard import render as qr_render

GOAL_MS = 5.0


def per_call_ms(fn, n: int, rounds: int = 10) -> float:
    """Mean time per call in the quietest of `rounds` short batches: the machine is shared, and the batches a
    neighbour's job lands on say nothing about the renderer."""
    batch = max(5, n // rounds)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - t0) / batch)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    token = ("SSC1:" + b64u(secrets.token_bytes(400)))[:450]
    res: dict[str, object] = {"token_chars": len(token)}
    res["zxing_png_ms"] = per_call_ms(lambda: qr_render.png(token, scale=4), args.n)
    res["zxing_svg_ms"] = per_call_ms(lambda: qr_render.svg(token, scale=4), args.n)
    res["png_bytes"] = len(qr_render.png(token, scale=4))
    try:
        import segno

        def seg() -> None:
            buf = io.BytesIO()
            segno.make_qr(token, error="m").save(buf, kind="png", scale=4)

        res["segno_png_ms"] = per_call_ms(seg, max(5, args.n // 20))
    except ImportError:
        res["segno_png_ms"] = None
    try:
        import qrcode

        def qrc() -> None:
            buf = io.BytesIO()
            q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=4)
            q.add_data(token)
            q.make_image().save(buf)

        res["qrcode_png_ms"] = per_call_ms(qrc, max(5, args.n // 20))
    except ImportError:
        res["qrcode_png_ms"] = None
    res["goal_ms_max"] = GOAL_MS
    res["meets_goal"] = res["zxing_png_ms"] <= GOAL_MS
    for other in ("segno_png_ms", "qrcode_png_ms"):
        if res[other]:
            res[other.replace("_png_ms", "_ratio")] = res[other] / res["zxing_png_ms"]
    if args.json:
        print(json.dumps(res, indent=2))
        return
    line = f"PNG of a {len(token)}-char token: zxing-cpp {res['zxing_png_ms']:.2f} ms (goal <= {GOAL_MS} ms) " \
           f"{'OK' if res['meets_goal'] else 'MISSED'}; SVG {res['zxing_svg_ms']:.2f} ms"
    for name in ("segno", "qrcode"):
        if res.get(f"{name}_png_ms"):
            line += f"; {name} {res[f'{name}_png_ms']:.1f} ms ({res[f'{name}_ratio']:.0f}x slower)"
    print(line)


if __name__ == "__main__":
    main()
