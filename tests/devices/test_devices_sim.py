"""sim:// for every kind, through the conformance suite (faults included)."""

from __future__ import annotations

import pytest

from devices import KINDS, open_device, sim
from devices.conformance import Outcome, run_conformance


@pytest.mark.parametrize("kind", list(KINDS))
async def test_sim_conformance(kind):
    report = await run_conformance(f"sim://{kind}?name=conf-{kind}", timeout=2.0, faults=True)
    assert report.passed, report.text()
    assert not [r for r in report.results if r.outcome is Outcome.SKIP], report.text()
    assert report.outcome_of("faults", "replug reported") is Outcome.PASS


async def test_sim_door_controller_all_kinds():
    dev = open_device("sim://door-controller?name=ctl")
    assert dev.kinds == ["patron", "pinpad", "lock", "door", "indicator"]
    report = await run_conformance(dev, timeout=2.0)
    assert report.passed, report.text()
    assert {r.suite for r in report.results} >= {"patron", "pinpad", "lock", "door", "indicator"}


async def test_sim_history_keeps_only_the_newest():
    """Receipts, lock moves, indicator patterns, payments and speech are kept
    for tests and the demo panel, the newest ``sim.HISTORY`` only: a bench or
    a demo serves thousands of patrons and the lists grew with every one."""
    lock = open_device("sim://lock?name=n-lock")
    ind = open_device("sim://indicator?name=n-ind")
    prn = open_device("sim://printer?name=n-prn")
    async with lock, ind, prn:
        for n in range(sim.HISTORY + 50):
            await prn.print_receipt([f"receipt {n}"])
            await ind.show("granted" if n % 2 else "idle")
            await lock.lock()
        receipts = sim.printed(name="n-prn")
        assert len(receipts) == sim.HISTORY
        assert receipts[0].lines == ("receipt 50",) and receipts[-1].lines == (f"receipt {sim.HISTORY + 49}",)
        assert len(sim.indicator_history(name="n-ind")) == sim.HISTORY
        assert len(sim.lock_history(name="n-lock")) == sim.HISTORY


async def test_sim_control_surface_history():
    lock = open_device("sim://lock?name=h-lock")
    ind = open_device("sim://indicator?name=h-ind")
    prn = open_device("sim://printer?name=h-prn")
    rfid = open_device("sim://rfid?name=h-rfid&tags=111,222")
    async with lock, ind, prn, rfid:
        await lock.release(5)
        await lock.lock()
        await ind.show("granted")
        await prn.print_receipt(["a", "b"], barcode="3000", cut=True)
        assert sim.lock_history(name="h-lock") == [("release", 5.0), ("lock", None)]
        assert [p.value for p in sim.indicator_history(name="h-ind")] == ["granted"]
        assert sim.printed(name="h-prn")[0].lines == ("a", "b")
        assert sorted(t.item_id for t in await rfid.inventory()) == ["111", "222"]
        uid = sim.tags(name="h-rfid")[0].uid
        await rfid.set_security(uid, False)
        assert {t.uid: t.secured for t in await rfid.inventory()}[uid] is False
        with pytest.raises(ValueError):
            sim.press_keys("12a")
