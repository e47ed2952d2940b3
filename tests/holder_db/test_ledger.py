"""Money on both engines, with real concurrent connections: no lost update, no overdraft, each key once."""
from __future__ import annotations

import multiprocessing
import random
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from holder_db import ledger, store

WRITERS = 8
POSTINGS = 50


def test_post_and_replay(db_url: str) -> None:
    account = ledger.open_account(db_url, "medical", "medical:1")
    assert ledger.open_account(db_url, "medical", "medical:1") == account
    first = ledger.post(db_url, account, 1000, "top_up", "t-1")
    assert first.applied and first.balance_after == 1000
    again = ledger.post(db_url, account, 1000, "top_up", "t-1")
    assert not again.applied and again.posting_id == first.posting_id
    spent = ledger.post(db_url, account, -400, "settlement", "s-1")
    assert spent.balance_after == 600
    assert ledger.balance(db_url, account) == 600
    assert [p.idempotency_key for p in ledger.postings(db_url, account)] == ["t-1", "s-1"]
    assert ledger.is_posted(db_url, ["t-1", "s-1", "nope"]) == {"t-1", "s-1"}


@pytest.mark.parametrize("amount, key, error, words", [
    (-1001, "x-1", ledger.Overdraft, "overdraw"),
    (10.5, "x-2", ledger.LedgerError, "integer number of fen"),
    (True, "x-3", ledger.LedgerError, "integer number of fen"),
    (10, "", ledger.LedgerError, "idempotency key"),
    (10, "k" * 191, ledger.LedgerError, "idempotency key"),
    (0, "x-4", ledger.LedgerError, "must not be zero"),
    (10**15 + 1, "x-5", ledger.LedgerError, "at most 1000000000000000 fen"),
    (-10**29, "x-6", ledger.LedgerError, "at most"),
    (999, "seed", ledger.KeyReused, "different posting"),
])
def test_refused_postings_change_nothing(db_url: str, amount, key, error, words) -> None:  # type: ignore[no-untyped-def]
    account = ledger.open_account(db_url, "fund", "pool")
    ledger.post(db_url, account, 1000, "deposit", "seed")
    with pytest.raises(error, match=words):
        ledger.post(db_url, account, amount, "withdraw", key)
    assert ledger.balance(db_url, account) == 1000
    assert len(ledger.postings(db_url, account)) == 1


def test_unknown_account(db_url: str) -> None:
    with pytest.raises(ledger.UnknownAccount):
        ledger.post(db_url, 424242, 5, "deposit", "u-1")
    with pytest.raises(ledger.LedgerError, match="kind"):
        ledger.open_account(db_url, "piggy", "x")


def test_posting_inside_the_callers_transaction_rolls_back_with_it(db_url: str) -> None:
    account = ledger.open_account(db_url, "fund", "pool")
    with pytest.raises(RuntimeError):
        with store.write_connection(db_url) as conn:
            ledger.post(conn, account, 300, "deposit", "inside")
            raise RuntimeError("the settlement failed after the posting")
    assert ledger.balance(db_url, account) == 0
    assert ledger.is_posted(db_url, ["inside"]) == set()


def plan(writer: int, count: int) -> list[tuple[int, str]]:
    """Each writer's postings: its own deposits and withdrawals, plus keys every writer tries (shared-N)."""
    rng = random.Random(writer)
    out = []
    for i in range(count):
        if i % 5 == 0:
            out.append((70, f"shared-{i}"))
        elif rng.random() < 0.55:
            out.append((rng.randrange(1, 200), f"w{writer}-dep-{i}"))
        else:
            out.append((-rng.randrange(1, 300), f"w{writer}-wd-{i}"))
    return out


def run_writer(url: str, account: int, writer: int, count: int) -> list[tuple[str, int, bool]]:
    done = []
    for amount, key in plan(writer, count):
        try:
            r = ledger.post(url, account, amount, "test", key)
        except ledger.Overdraft:
            done.append((key, amount, False))
            continue
        done.append((key, amount, r.applied))
    return done


def check_ledger(url: str, account: int, outcomes: list[tuple[str, int, bool]]) -> None:
    applied = [(k, a) for k, a, ok in outcomes if ok]
    keys = Counter(k for k, _ in applied)
    assert all(n == 1 for n in keys.values()), "a key was applied twice"
    with store.get_engine(url).connect() as conn:
        rows = conn.execute(text("SELECT idempotency_key, amount, balance_after FROM postings "
                                 "WHERE account_id = :a ORDER BY id"), {"a": account}).all()
    assert sorted((k, a) for k, a, _ in rows) == sorted(applied)
    running = 0
    for _key, amount, after in rows:
        running += amount
        assert after == running >= 0  # in commit order, every balance seen was the true one and never negative
    assert ledger.balance(url, account) == running == sum(a for _, a in applied)
    reconciled = ledger.check(url)
    assert reconciled.ok and reconciled.postings == 2 * len(applied), reconciled.as_dict()
    shared = {k for k, _ in applied if k.startswith("shared-")}
    assert shared == {f"shared-{i}" for i in range(0, POSTINGS, 5)}
    assert any(not ok for _, _, ok in outcomes), "the test should have provoked some refused withdrawals"


def test_concurrent_threads(db_url: str) -> None:
    account = ledger.open_account(db_url, "fund", "pool")
    results: list[list[tuple[str, int, bool]]] = [[] for _ in range(WRITERS)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(WRITERS)

    def work(w: int) -> None:
        try:
            barrier.wait()
            results[w] = run_writer(db_url, account, w, POSTINGS)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    check_ledger(db_url, account, [o for r in results for o in r])


def _process_writer(args: tuple[str, int, int, int]) -> list[tuple[str, int, bool]]:
    url, account, writer, count = args
    return run_writer(url, account, writer, count)


def test_concurrent_processes(db_url: str) -> None:
    account = ledger.open_account(db_url, "fund", "pool")
    store.dispose(db_url)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_process_writer, [(db_url, account, w, POSTINGS) for w in range(4)])
    check_ledger(db_url, account, [o for r in results for o in r])


_examples = iter(range(10**9))
steps = st.lists(st.tuples(st.integers(-500, 500), st.integers(0, 12), st.sampled_from(["a", "b"])), max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_postings_match_a_plain_model(db_url: str, sequence: list[tuple[int, int, str]]) -> None:
    """Any sequence of postings (keys reused, some too large to take) ends where a dict-and-set model says."""
    run = next(_examples)
    accounts = {name: ledger.open_account(db_url, "fund", f"model-{run}-{name}") for name in ("a", "b")}
    balance = {"a": 0, "b": 0}
    seen: dict[str, tuple[str, int]] = {}
    for amount, key_no, name in sequence:
        key = f"m{run}-{key_no}"
        if amount == 0:
            with pytest.raises(ledger.LedgerError, match="must not be zero"):
                ledger.post(db_url, accounts[name], amount, "t", key)
            continue
        if key in seen:
            if seen[key] == (name, amount):
                assert not ledger.post(db_url, accounts[name], amount, "t", key).applied
            else:
                with pytest.raises(ledger.KeyReused):
                    ledger.post(db_url, accounts[name], amount, "t", key)
            continue
        if balance[name] + amount < 0:
            with pytest.raises(ledger.Overdraft):
                ledger.post(db_url, accounts[name], amount, "t", key)
            continue
        result = ledger.post(db_url, accounts[name], amount, "t", key)
        balance[name] += amount
        seen[key] = (name, amount)
        assert result.applied and result.balance_after == balance[name]
    assert ledger.check(db_url).ok
    assert {n: ledger.balance(db_url, a) for n, a in accounts.items()} == balance


def test_a_page_posts_as_the_postings_one_by_one_would(db_url: str) -> None:
    fund = ledger.fund_for(db_url, "benefit")
    a = ledger.open_account(db_url, "bank", "6222-a")
    b = ledger.open_account(db_url, "bank", "6222-b")
    with store.write_connection(db_url) as conn:
        ledger.post_page(conn, [(a, 300, "p-1"), (b, 200, "p-2"), (a, 50, "p-3")], "benefit", fund)
    assert (ledger.balance(db_url, a), ledger.balance(db_url, b), ledger.balance(db_url, fund)) == (350, 200, 550)
    assert [p.balance_after for p in ledger.postings(db_url, a)] == [300, 350]
    assert [p.balance_after for p in ledger.postings(db_url, fund)] == [300, 500, 550]
    assert ledger.check(db_url).ok
    with pytest.raises(ledger.PageRefused, match="posted before"), store.write_connection(db_url) as conn:
        ledger.post_page(conn, [(b, 10, "p-4"), (b, 10, "p-2")], "benefit", fund)
    assert ledger.balance(db_url, b) == 200 and ledger.is_posted(db_url, ["p-4"]) == set()
