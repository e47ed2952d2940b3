"""A real e-card server for the tests: a key set, a holder database with sample holders, uvicorn on a free port."""
from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from cardlib.idnumber import check_char
from ecard.device import RelyingParty
from sscard_app import create_app
from ecard import status_list
from ecard.keys import KeySet, new_key
from ecard_server.terminals import add_terminal
from holder_db import store as db
from holder_db.models import Card, Enrolment, Holder
from sscard_settings import Settings

NAMES = ["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十"]


@dataclass
class Sample:
    ssn: str
    name: str
    card_no: str


def sample_ssn(i: int) -> str:
    body = f"110101{1980 + i % 20}{(i % 12) + 1:02d}{(i % 27) + 1:02d}{i % 1000:03d}"
    return body + check_char(body)


def make_holders(url: str, n: int, start: int = 0) -> list[Sample]:
    db.create_all(url) if db.is_sqlite(db.resolve_url(url)) else db.init(url)
    out = []
    with db.session(url) as s:
        for i in range(start, start + n):
            ssn = sample_ssn(i)
            gender = "1" if int(ssn[16]) % 2 else "2"
            h = Holder(ssn=ssn, name=NAMES[i % len(NAMES)], gender=gender, nation="01",
                       birth_date=dt.date(int(ssn[6:10]), int(ssn[10:12]), int(ssn[12:14])), region="110101")
            s.add(h)
            s.flush()
            card_no = f"C{i:08d}"
            s.add(Card(holder_id=h.id, card_no=card_no, region="110101", status="active"))
            s.add(Enrolment(holder_id=h.id, insurance="medical", region="110101", status="active",
                            start_date=dt.date(2020, 1, 1)))
            s.add(Enrolment(holder_id=h.id, insurance="pension", region="110101", status="active",
                            start_date=dt.date(2020, 1, 1)))
            out.append(Sample(ssn, NAMES[i % len(NAMES)], card_no))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    keys_dir: Path
    db_url: str
    terminal_key: str
    holders: list[Sample]
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        db.dispose(self.db_url)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def relying_party(self, name: str, alg: str = "EdDSA") -> RelyingParty:
        """A relying party registered as `sscard keys rp NAME` does, with a key of its own."""
        from ecard.keys import generate
        from holder_db.ecard import EcardStore

        rp = RelyingParty(name, generate(alg))
        EcardStore(self.db_url).register_relying_party(name, rp.key.public().jwk(), alg, "test")
        return rp

    def fresh_holder(self) -> Sample:
        """A holder no other test has used on this server."""
        return self.holders.pop()


def start_server(tmp: Path, limits: dict | None = None, n_holders: int = 40, db_url: str | None = None,
                 **settings) -> LiveServer:
    keys_dir = tmp / "keys"
    new_key(keys_dir)
    terminal_key = add_terminal(keys_dir, "counter-01")
    db_url = db_url or f"sqlite:///{tmp / 'holders.db'}"
    holders = make_holders(db_url, n_holders)
    port = free_port()
    app = create_app(Settings(db=db_url, ecard_keys=keys_dir, status_uri=f"http://127.0.0.1:{port}/status-list",
                              limits=limits or {"activation": (6000, 1000), "login_create": (6000, 1000),
                                                "login_device": (6000, 1000), "terminal_limit": (60000, 1000),
                                                "token": (60000, 1000)},
                              **settings))
    # as `sscard serve` runs it: X-Forwarded-For is judged by the app (Settings.trusted_proxies), not uvicorn
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/.well-known/jwks.json", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        raise RuntimeError("e-card server did not start")
    return LiveServer(url, keys_dir, db_url, terminal_key, holders, server, thread)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    """The server over SQLite, then over a real PostgreSQL server (tests/plugins/postgres.py)."""
    db_url = request.getfixturevalue("postgres_module_db") if request.param == "postgres" else None
    srv = start_server(tmp_path_factory.mktemp("ecard"), db_url=db_url)
    yield srv
    srv.stop()


def write_site(root: Path) -> KeySet:
    """An issuer's published trust as a gate keeps it in files: a key set, its JWKS and an empty signed status list."""
    ks = new_key(root / "keys")
    (root / "jwks.json").write_text(json.dumps(ks.jwks()), encoding="utf-8")
    (root / "status.jwt").write_text(status_list.sign(set(), 64, ks.current, "http://issuer/status"),
                                     encoding="utf-8")
    return ks


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[KeySet, Path]:
    root = tmp_path_factory.mktemp("site")
    return write_site(root), root


def slowest_jwks_under_big_bodies(client: Callable[[], httpx.Client], path: str) -> float:
    """Seconds of the slowest of five JWKS GETs while twelve threads post 10 MB bodies to `path`, each answered
    413 (or cut off while it is still going out). Twelve such bodies once stalled a JWKS GET for 8.6 s."""
    blob = b"{" + b" " * (10 * 1024 * 1024) + b"}"
    stop = threading.Event()

    def flood() -> None:
        with client() as c:
            while not stop.is_set():
                try:
                    r = c.post(path, content=blob, headers={"Content-Type": "application/json"})
                    assert r.status_code == 413, r.status_code
                except httpx.TransportError:
                    pass  # answered 413 and closed while the body was still going out

    threads = [threading.Thread(target=flood) for _ in range(12)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        worst = 0.0
        with client() as c:
            for _ in range(5):
                t0 = time.monotonic()
                assert c.get("/.well-known/jwks.json").status_code == 200
                worst = max(worst, time.monotonic() - t0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    return worst
