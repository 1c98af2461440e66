"""The group-commit writer: operations share a commit but each stays whole."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from kiosk.library import LibraryError
from kiosk.library.datafile import load_data
from kiosk.library.store import GroupWriter, Store

TODAY = date(2026, 11, 23)


@pytest.fixture
def stores(tmp_path):
    store = Store.create(tmp_path / "s.sqlite", load_data("demo"))
    writer = GroupWriter(store.path)
    yield store, writer
    writer.close()
    store.close()


async def test_racing_checkouts_of_one_item(stores):
    store, writer = stores
    patrons = ["900001", "900015", "900018", "900011", "900004"] * 4
    results = await asyncio.gather(
        *(writer(lambda s, p=p: s.checkout(p, "30000000000043", today=TODAY)) for p in patrons),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1
    assert all(isinstance(r, LibraryError) for r in results if isinstance(r, BaseException))
    assert store.item("30000000000043").loan.patron == won[0].patron  # the reader connection sees it


async def test_a_failing_operation_leaves_the_others(stores):
    store, writer = stores

    def half_then_fail(s: Store):
        with s.transaction() as conn:
            conn.execute("DELETE FROM loans")
            raise RuntimeError("boom")

    results = await asyncio.gather(
        writer(lambda s: s.checkout("900015", "30000000000043", today=TODAY)),
        writer(half_then_fail),
        writer(lambda s: s.checkout("900015", "30000000000036", today=TODAY)),
        return_exceptions=True,
    )
    assert isinstance(results[1], RuntimeError)
    assert store.loan_count("900015") == 2
    assert store.loan_count("900001") == 3  # the DELETE was rolled back
    assert writer.operations == 3 and writer.groups <= 3
    assert store.integrity_problems() == []


async def test_many_operations_share_few_commits(stores):
    store, writer = stores
    items = ["30000000000029", "30000000000036", "30000000000043", "30000000000098", "30000000000111"]
    for _ in range(10):
        await asyncio.gather(*(writer(lambda s, i=i: s.checkout("900015", i, today=TODAY)) for i in items))
        await asyncio.gather(*(writer(lambda s, i=i: s.checkin(i, today=TODAY)) for i in items))
    assert writer.operations == 100
    assert writer.groups < 100
    assert store.loan_count("900015") == 0
