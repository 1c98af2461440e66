"""`bibkiosk library …` and `bibkiosk check` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kiosk.cli import main
from kiosk.library.datafile import load_data, save_data

from .conftest import REPO
from .demo_cards import CHECKOUT, ENTRY, PIN
from .helpers import ISSUE_EXAMPLE


def _bibkiosk(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, cwd=REPO, timeout=timeout
    )


def test_patron_run_updates_the_file_in_place(tmp_path, capsys):
    raw = json.loads(json.dumps(ISSUE_EXAMPLE))
    raw["holds"] = [{"patron": "413700", "item": "30000000000012", "created": "2026-10-26"}]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(raw))
    expected = {
        "2026-12-01": "413700: invoiced -> reminder (reminder)",
        "2027-01-01": "413700: reminder -> not_paid (not_paid)",
        "2027-02-01": "413700: not_paid -> deregistered (deregistered), membership fee written off, 1 hold(s) cancelled",
    }
    for run, line in expected.items():
        assert main(["library", "patron-run", "--data", str(path), "--date", run]) == 0
        assert line in capsys.readouterr().out
    data = load_data(path)
    assert data.patrons[0].subscription.status.value == "deregistered"
    assert data.patrons[0].subscription.fee_written_off
    assert data.holds[0].status.value == "cancelled"
    assert main(["library", "patron-run", "--data", str(path), "--date", "2027-03-01"]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_patron_run_seed002_profile(tmp_path, capsys):
    raw = json.loads(json.dumps(ISSUE_EXAMPLE))
    raw["patrons"][0]["subscription"].update(start="2021-04-20", end="2022-04-30")
    path = tmp_path / "data.json"
    path.write_text(json.dumps(raw))
    seen = []
    for month in range(5, 13):
        assert main(["library", "patron-run", "--data", str(path), "--date", f"2021-{month:02d}-01", "--profile", "seed002"]) == 0
        seen.append(load_data(path).patrons[0].subscription.status.value)
    assert seen == ["reminder"] * 5 + ["not_paid", "not_paid", "invalid"]


def test_patron_run_dry_run_and_errors(tmp_path, capsys):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(ISSUE_EXAMPLE))
    before = path.read_text()
    assert main(["library", "patron-run", "--data", str(path), "--date", "2026-12-01", "--dry-run"]) == 0
    assert path.read_text() == before
    assert main(["library", "patron-run", "--data", str(path), "--date", "1 dec"]) == 2
    assert "--date" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**ISSUE_EXAMPLE, "loans": [{"patron": "413700", "item": "x", "due": "2026-01-01"}]}))
    assert main(["library", "patron-run", "--data", str(bad), "--date", "2026-12-01"]) == 2
    err = capsys.readouterr().err
    assert "loans[0].item: unknown item 'x'" in err and "Traceback" not in err


def test_check_data_and_schema(tmp_path, capsys):
    assert main(["library", "check-data", "demo"]) == 0
    bad = tmp_path / "bad.json"
    raw = json.loads(json.dumps(ISSUE_EXAMPLE))
    raw["patrons"][0]["cards"][0]["status"] = "stolen"
    bad.write_text(json.dumps(raw))
    assert main(["library", "check-data", str(bad)]) == 1
    assert "patrons[0].cards[0].status" in capsys.readouterr().err
    assert main(["library", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "bibkiosk embedded library data file"


def test_serve_refuses_a_bad_data_file(tmp_path):
    bad = tmp_path / "bad.json"
    raw = json.loads(json.dumps(ISSUE_EXAMPLE))
    raw["patrons"][0]["subscription"]["status"] = "paid"
    bad.write_text(json.dumps(raw))
    result = _bibkiosk("library", "serve", "--data", str(bad), "--port", "0")
    assert result.returncode == 2
    assert "patrons[0].subscription.status" in result.stderr and "Traceback" not in result.stderr


def test_serve_and_save(serve_process, tmp_path):
    import asyncio

    from kiosk.sip2.client import Sip2Client

    from .conftest import settings_for

    path = tmp_path / "data.json"
    save_data(load_data("demo"), path)
    server = serve_process("--data", str(path), "--save")

    async def go():
        async with Sip2Client(settings_for(server.port)) as client:
            assert (await client.checkout("29999000000150", "30000000000043", PIN)).ok

    asyncio.run(go())
    assert server.stop() == 0
    saved = load_data(path)
    assert any(loan.item == "30000000000043" and loan.patron == "900015" for loan in saved.loans)


def test_serve_with_tls(serve_process, tmp_path):
    import asyncio
    import shutil

    from kiosk.sip2.client import Sip2Client

    from .conftest import settings_for

    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make a test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = serve_process("--demo", "--tls-cert", str(cert), "--tls-key", str(key))

    async def go():
        settings = settings_for(server.port, tls=True, ca_file=cert)
        async with Sip2Client(settings) as client:
            assert (await client.patron_information("29999000000010")).valid_patron

    asyncio.run(go())


# --------------------------------------------------------------------------- bibkiosk check


def test_check_json_contract_in_a_subprocess():
    result = _bibkiosk("check", "--library", "demo", "--card", "29999000000030", "--action", "checkout", "--json")
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"allowed", "rules", "message", "language", "evidence"}
    assert payload["allowed"] is False and payload["rules"] == ["R2"] and payload["language"] == "nl"
    assert payload["message"].startswith("Je lidgeld staat nog open")


@pytest.mark.parametrize("card, expected", sorted(CHECKOUT.items()))
def test_check_checkout_every_demo_card(card, expected, capsys):
    code = main(["check", "--library", "demo", "--card", card, "--action", "checkout", "--at", "2026-11-23T12:00", "--json"])
    payload = json.loads(capsys.readouterr().out)
    expected = [r for r in expected if r != "P2"]  # without --pin the PIN rules are left out
    assert payload["rules"] == expected
    assert code == (0 if not expected else 1)


@pytest.mark.parametrize("card, expected", sorted(ENTRY.items()))
def test_check_entry_every_demo_card(card, expected, capsys):
    code = main(["check", "--library", "demo", "--card", card, "--pin", PIN, "--action", "entry",
                 "--at", "2026-11-23T20:00", "--json"])  # fmt: skip
    assert json.loads(capsys.readouterr().out)["rules"] == expected
    assert code == (0 if not expected else 1)


def test_check_text_output_and_periods(capsys):
    code = main(["check", "--library", "demo", "--card", "29999000000040", "--action", "hold"])
    out = capsys.readouterr().out
    assert code == 1
    assert "hold: DENIED" in out and "R3" in out and "patron message (en): " in out
    assert "PIN: not checked" in out
    assert main(["check", "--library", "demo", "--card", "29999000000150", "--action", "entry", "--period", "staffed"]) == 0
    capsys.readouterr()
    assert main(["check", "--library", "demo", "--card", "29999000000010", "--action", "entry", "--period", "closed"]) == 1
    assert "S1" in capsys.readouterr().out
    assert main(["check", "--library", "demo", "--card", "29999000000090", "--action", "return"]) == 0
    capsys.readouterr()
    # The switched-off Zuid badge matters at branch 9903 only.
    assert main(["check", "--library", "demo", "--card", "29999000000010", "--action", "entry", "--branch", "9903"]) == 1
    assert "B1" in capsys.readouterr().out


def test_check_pin(capsys):
    assert main(["check", "--library", "demo", "--card", "29999000000010", "--pin", "0000", "--action", "checkout", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["rules"] == ["P1"]
    assert main(["check", "--library", "demo", "--card", "29999000000010", "--pin", PIN, "--action", "checkout", "--json"]) == 0


def test_check_errors(tmp_path, capsys):
    assert main(["check", "--library", str(tmp_path / "none.json"), "--card", "1", "--action", "checkout"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["check", "--library", "demo", "--card", "1", "--action", "checkout", "--at", "tomorrow"]) == 2
    assert "--at" in capsys.readouterr().err
    assert main(["check", "--library", "demo", "--card", "29999000000010", "--action", "entry", "--branch", "1"]) == 2
    assert "no such branch" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["check", "--card", "1", "--action", "checkout"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["check", "--library", "demo", "--card", "1", "--action", "borrow"])


def _config(tmp_path, extra: str = "") -> str:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f'state_dir = "{tmp_path}"\n\n[library]\nkind = "embedded"\ndata = "demo"\n\n'
        '[policy]\nunmanned_badge = "Onbemande openingsuren"\nmin_entry_age = 18\n'
        '[policy.max_charges]\n"53" = 20.00\n\n' + extra
    )
    path.chmod(0o600)
    return str(path)


def test_check_with_a_config(tmp_path, capsys):
    config = _config(tmp_path)
    # The configuration's [policy] decides: R1's maximum here is 20.00, so 12.50 is fine.
    assert main(["check", "--config", config, "--card", "29999000000020", "--action", "checkout", "--json"]) == 0
    capsys.readouterr()
    assert main(["check", "--config", config, "--card", "29999000000030", "--action", "checkout", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["rules"] == ["R2"]
    # min_entry_age 18 from the configuration; the demo patron is 12.
    assert main(["check", "--config", config, "--card", "29999000000170", "--pin", PIN, "--action", "entry", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["rules"] == ["A1"]


def test_check_with_a_config_schedule(tmp_path, capsys):
    schedule = (
        '[schedule]\n[schedule.branches."9901"]\n'
        'monday = [{ kind = "staffed", from = "10:00", until = "17:00" },'
        ' { kind = "unmanned", from = "17:00", until = "21:00" }]\n'
    )
    config = _config(tmp_path, schedule)
    args = ["check", "--config", config, "--card", "29999000000150", "--pin", PIN, "--action", "entry", "--json"]
    assert main([*args, "--at", "2026-11-23T11:00"]) == 0  # staffed: the door is open to all
    capsys.readouterr()
    assert main([*args, "--at", "2026-11-23T18:00"]) == 1  # unmanned: no badge
    assert json.loads(capsys.readouterr().out)["rules"] == ["B1"]
    assert main([*args, "--at", "2026-11-23T23:00"]) == 1
    # Closed: as at the door, S1 and nothing else (nobody is asked a PIN or looked up).
    assert json.loads(capsys.readouterr().out)["rules"] == ["S1"]
    # --period overrides the schedule.
    assert main([*args, "--at", "2026-11-23T23:00", "--period", "staffed"]) == 0
    capsys.readouterr()


def test_check_with_a_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[library]\nkind = "embedded"\n')
    assert main(["check", "--config", str(bad), "--card", "1", "--action", "checkout"]) == 2
    assert "library" in capsys.readouterr().err
    unreachable = tmp_path / "far.toml"
    unreachable.write_text('[library]\nkind = "sip2"\nhost = "127.0.0.1"\nport = 1\nuser = "x"\ntimeout_seconds = 1\n')
    assert main(["check", "--config", str(unreachable), "--card", "1", "--action", "checkout"]) == 2
    assert "library system" in capsys.readouterr().err
