"""A fresh holder_db per test (SQLite and PostgreSQL), with helpers to add holders and cards."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import insert, select

from holder_db import models, store
from holder_db.bulk import HOLDER_IMPORT, import_csv


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """holder_db migrated to the newest revision: a SQLite file, then a database on a real PostgreSQL server."""
    url = (request.getfixturevalue("postgres_db") if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'holders.db'}")
    store.init(url)
    yield url
    store.dispose(url)


def add_holder(url: str, ssn: str, name: str = "测试", *, card_no: str | None = None, card_status: str = "active",
               card_id: str | None = None, enrolments: tuple[str, ...] = ("medical",)) -> None:
    birth = ssn[6:14]
    gender = "1" if int(ssn[16]) % 2 else "2"
    csv = f"ssn,name,gender,nation,birth_date,birthplace,region\n{ssn},{name},{gender},01,{birth},,{ssn[:6]}\n"
    result = import_csv(store.get_engine(url), io.StringIO(csv), HOLDER_IMPORT)
    assert result.imported == 1, result.as_dict()
    if card_no:
        with store.get_engine(url).begin() as conn:
            holder_id = conn.execute(select(models.Holder.id).where(models.Holder.ssn == ssn)).scalar_one()
            conn.execute(insert(models.Card.__table__).values(
                holder_id=holder_id, card_no=card_no, card_id=card_id, region=ssn[:6], status=card_status,
                created_at=models.utcnow(), status_at=models.utcnow(), issued_on=dt.date(2021, 12, 3)))
    if enrolments:
        with store.get_engine(url).begin() as conn:
            holder_id = conn.execute(select(models.Holder.id).where(models.Holder.ssn == ssn)).scalar_one()
            for insurance in enrolments:
                conn.execute(insert(models.Enrolment).values(holder_id=holder_id, insurance=insurance,
                                                             region=ssn[:6], status="active",
                                                             start_date=dt.date(2020, 1, 1)))
