"""The pages (holder e-card, verifier, counter, kiosk): their assets, from the package.

Every asset is a file in ecard_server/pages/static, served from the package (gzip when the browser takes it), so a
kiosk or a gate with no internet works the same. The counter's and the kiosk's card reads (/pages/api/...) are
terminal flows over the server's own readers: they live in terminal.pages_api, and the program (sscard_app,
`sscard serve`) includes them before this router, whose catch-all would otherwise answer their GETs.
"""
from __future__ import annotations

import gzip
import hashlib
import mimetypes
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

STATIC = Path(__file__).with_name("static")
PAGES = ("holder", "verifier", "counter", "kiosk")

router = APIRouter(tags=["pages"])
mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("text/javascript", ".js")


@lru_cache(maxsize=64)
def _asset(rel: str) -> tuple[bytes, bytes, str, str]:
    path = (STATIC / rel).resolve()
    if STATIC.resolve() not in path.parents or not path.is_file():
        raise FileNotFoundError(rel)
    raw = path.read_bytes()
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype.endswith(("json", "javascript")):
        ctype += "; charset=utf-8"
    return raw, gzip.compress(raw, 9, mtime=0), ctype, '"' + hashlib.sha256(raw).hexdigest()[:16] + '"'


@router.get("/pages", include_in_schema=False)
def pages_root() -> RedirectResponse:
    return RedirectResponse("/pages/")


@router.get("/pages/{rel:path}", include_in_schema=False)
def asset(rel: str, request: Request) -> Response:
    if rel in ("", "index.html"):
        rel = "index.html"
    elif rel in PAGES:
        return RedirectResponse(f"/pages/{rel}.html")
    if rel.startswith("api/") or len(rel) > 200:
        raise HTTPException(404, "no such page")
    try:
        raw, packed, ctype, etag = _asset(rel)
    except (FileNotFoundError, OSError, ValueError):
        raise HTTPException(404, "no such page") from None
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    if ctype.startswith("text/html"):
        headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                              "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
    if rel == "sw.js":
        headers["Service-Worker-Allowed"] = "/pages/"
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "") and len(packed) < len(raw):
        return Response(packed, media_type=ctype, headers={**headers, "Content-Encoding": "gzip"})
    return Response(raw, media_type=ctype, headers=headers)
