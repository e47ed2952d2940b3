"""The station on holder_db: cards in status `applied` are personalized, and each gets its 卡识别码, dates and the
status `produced` written back, on SQLite and on a real PostgreSQL server. The hopper runs in process here (the
pcscd path of the same station is in test_personalize.py)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from cardlib import issuer_keys
from cardlib.psam import Psam
from cardlib.transport import LoopbackTransport
from holder_db import store
from holder_db.models import Card, CardEvent, Holder
from simulators.cardos import build_card
from simulators.hopper import Hopper
from simulators.personalization import new_blank, write_json_atomic
from simulators.psam import Psam as SimulatedPsam
from terminal import personalize as station
from tests.services.test_personalize import HOLDERS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'holders.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_db")
    store.init(url)  # the real migrations, as holder_db's own tests do
    with store.session(url) as s:
        for i, h in enumerate(HOLDERS):
            holder = Holder(ssn=h["ssn"], name=h["name"], gender=h["gender"], nation=h["nation"],
                            birth_date=dt.date.fromisoformat(h["birth_date"]), birthplace=h["birthplace"],
                            region=h["birthplace"][:4] + "00")
            s.add(holder)
            s.flush()
            s.add(Card(holder_id=holder.id, card_no=f"B{i + 1:08d}", region=holder.region,
                       status="applied" if i != 1 else "active"))
    yield url
    store.dispose(url)


class _Reader(LoopbackTransport):
    def reconnect(self, *, reset: bool = False) -> None:
        self.connect()


def test_cards_due_in_holder_db_are_made_and_recorded(db_url: str, tmp_path: Path) -> None:
    key_set = issuer_keys.new_key_set("sm4")
    for i in range(3):
        write_json_atomic(tmp_path / f"c{i}.json", new_blank(key_set))
    holders, bad = station.holders_from_db(db_url)
    assert [h.data["name"] for h in holders] == ["赵一", "孙三"] and bad == []  # 钱二's card is already active
    loop = LoopbackTransport(SimulatedPsam({"sm4": key_set}))
    loop.connect()
    journal = station.Journal(tmp_path / "j.journal")
    result = station.run_batch(holders, station.hopper_cards(_Reader(Hopper(tmp_path, build_card)), 0.2),
                               Psam(loop), journal, station.Options())
    assert [i["card_no"] for i in result.issued] == ["B00000001", "B00000003"]
    assert station.record_in_db(db_url, result.issued) == 2
    assert station.record_in_db(db_url, result.issued) == 0  # a resumed batch records nothing twice
    with store.session(db_url) as s:
        cards = {c.card_no: c for c in s.exec(select(Card)).all()}
        events = s.exec(select(CardEvent)).all()
    for item in result.issued:
        card = cards[item["card_no"]]
        assert (card.status, card.card_id, card.issued_on.isoformat()) == ("produced", item["card_id"],
                                                                          item["issue_date"])
    assert cards["B00000002"].status == "active" and cards["B00000002"].card_id is None
    assert sorted((e.from_status, e.to_status) for e in events) == [("applied", "produced")] * 2
    assert station.holders_from_db(db_url) == ([], [])  # nobody is due a card any more


@pytest.mark.pcsc
def test_personalize_cli_on_holder_db_through_the_hopper(tmp_path: Path, issuer_dirs: dict, sim_server) -> None:
    import json

    from tests.services.conftest import sscard

    url = f"sqlite:///{tmp_path / 'holders.db'}"
    store.init(url)
    with store.session(url) as s:
        for i, h in enumerate(HOLDERS[:2]):
            holder = Holder(ssn=h["ssn"], name=h["name"], gender=h["gender"], nation=h["nation"],
                            birth_date=dt.date.fromisoformat(h["birth_date"]), birthplace=h["birthplace"],
                            region="110100")
            s.add(holder)
            s.flush()
            s.add(Card(holder_id=holder.id, card_no=f"C{i + 1:08d}", region="110100"))
    store.dispose(url)
    hopper = tmp_path / "hopper"
    assert sscard("sim", "blanks", "--keys", str(issuer_dirs["ours"]), "--count", "2", "--out", str(hopper)).returncode == 0
    server = sim_server(["sim", "serve", "--hopper", str(hopper)], slot=0)
    r = sscard("personalize", "--db", url, "--keys", str(issuer_dirs["ours"]), "--reader", server.reader,
               "--report", str(tmp_path / "r.json"), "--wait", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["recorded_in_db"] == 2 and [i["card_no"] for i in out["issued"]] == ["C00000001", "C00000002"]
    with store.session(url) as s:
        assert {c.card_id for c in s.exec(select(Card)).all()} == {i["card_id"] for i in out["issued"]}
    store.dispose(url)
