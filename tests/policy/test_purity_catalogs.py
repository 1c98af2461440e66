"""policy is pure (imports nothing of ours, no hardware, no I/O modules) and every rule speaks nl/fr/en."""

from __future__ import annotations

import ast
import json
import string
import subprocess
import sys
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

import policy
from policy import RULES, Action, SiteRules, message_keys

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policy"
FORBIDDEN = ("kiosk", "devices", "kivy", "serial", "smartcard", "osdp", "evdev", "sqlite3", "_sqlite3", "socket",
             "_socket", "ssl", "asyncio", "threading", "escpos", "requests", "pysip2", "Sip2", "subprocess")

PROBE = """
import json, sys
from pydantic import BaseModel
class _Probe(BaseModel):
    x: int
_Probe(x=1)            # pydantic's own first-model imports (its plugin loader reads entry points)
baseline = set(sys.modules)
import policy
added = sorted(set(sys.modules) - baseline)
print(json.dumps({"baseline": sorted(baseline), "added": added}))
"""


def _top(name: str) -> str:
    return name.split(".")[0]


def test_import_policy_pulls_in_nothing_forbidden() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    added_tops = {_top(m) for m in found["added"]}
    assert not added_tops & set(FORBIDDEN), sorted(added_tops & set(FORBIDDEN))
    # none of ours or of the hardware stacks is loaded at all, not even through pydantic
    loaded = {_top(m) for m in found["baseline"] + found["added"]}
    assert not loaded & {"kiosk", "devices", "kivy", "serial", "smartcard", "osdp", "evdev", "sqlite3", "_sqlite3"}
    # everything policy adds is policy itself, pydantic, or the standard library
    stdlib = set(sys.stdlib_module_names)
    strangers = sorted(t for t in added_tops if t not in stdlib and t not in {"policy", "pydantic", "pydantic_core",
                                                                               "typing_extensions", "annotated_types"})
    assert not strangers, strangers


def test_plain_python_c_import_policy() -> None:
    """The issue's own check: `python -c "import policy"` loads none of kiosk, devices, kivy, serial, smartcard.

    (socket, if present, comes from pydantic's plugin loader via importlib.metadata -> email;
    the probe above proves policy itself adds none of it.)
    """
    code = ("import sys, json, policy; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert not loaded & {"kiosk", "devices", "kivy", "serial", "smartcard", "osdp", "sqlite3", "_sqlite3"}


def test_policy_source_imports_only_stdlib_and_pydantic() -> None:
    allowed = {"__future__", "collections", "dataclasses", "datetime", "decimal", "enum", "math", "re", "typing",
               "pydantic", "pydantic_core"}
    for path in sorted(POLICY_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert _top(name) in allowed, f"{path.name} imports {name}"


def test_policy_reads_no_clock() -> None:
    for path in sorted(POLICY_DIR.glob("*.py")):
        text = path.read_text()
        for call in (".now(", ".today(", "time.time", "utcnow", "monotonic", "open("):
            assert call not in text, f"{path.name} calls {call}"


# Catalogs ----------------------------------------------------------------------------------------


def _catalog(lang: str) -> dict[str, str]:
    from babel.messages.pofile import read_po

    path = ROOT / "kiosk" / "locale" / lang / "LC_MESSAGES" / "policy.po"
    with path.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_every_rule_has_a_text_in_every_language(lang) -> None:
    catalog = _catalog(lang)
    for rule, info in RULES.items():
        assert catalog.get(info.message_key), f"{rule} has no {lang} text"
    for key in message_keys():
        assert catalog.get(key), f"{key} has no {lang} text"
    assert set(catalog) == set(message_keys()), "the catalog has keys decide never produces"


def test_placeholders_agree_and_amounts_only_where_enabled() -> None:
    cats = {lang: _catalog(lang) for lang in ("nl", "fr", "en")}
    for key in message_keys():
        fields = {lang: _fields(cat[key]) for lang, cat in cats.items()}
        assert len({frozenset(f) for f in fields.values()}) == 1, (key, fields)
        expected = {"amount"} if key.endswith(".amount") else {"minutes"} if key == "policy.L1" else (
            {"screen_message"} if key == "policy.LS.screen" else {"age"} if key == "policy.A1.age" else set())
        assert fields["nl"] == expected, key
        if not key.endswith(".amount") and key != "policy.A1.age":
            for cat in cats.values():
                assert "€" not in cat[key] and not any(ch.isdigit() for ch in cat[key]), key


def test_kiosk_i18n_check_passes_for_policy() -> None:
    from kiosk import i18n

    problems = [p for p in i18n.check_catalogs() if p.startswith("policy")]
    assert problems == []
    for lang in ("nl", "fr", "en"):
        for key in message_keys():
            text = i18n.translate("policy", key, lang, amount="1,00", minutes=3, screen_message="x", age=16)
            assert text and "{" not in text


def test_dutch_is_dutch() -> None:
    from kiosk import i18n

    assert "balie" in i18n.translate("policy", "policy.R2", "nl")
    assert "accueil" in i18n.translate("policy", "policy.R2", "fr")
    assert "desk" in i18n.translate("policy", "policy.R2", "en")


def test_registry() -> None:
    """RULES against an independent source: docs/rules.md's table (ids, order,
    what each denies) and the staff texts; the registry's own construction
    cannot make this pass."""
    import re

    doc = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| \*\*([A-Z0-9]+)\*\* \| [^|]+ \| ([^|]+) \|", doc, re.M)
    assert [rule for _, rule, _ in rows] == list(RULES), "docs/rules.md order differs from RULES"
    assert [int(n) for n, _, _ in rows] == list(range(1, len(RULES) + 1))
    assert list(RULES)[:2] == ["S1", "U1"]
    assert {"R1", "R2", "R3", "R4", "R5", "R6"} <= set(RULES)
    for (_, rule, denies), info in zip(rows, RULES.values()):
        documented = denies.strip()
        if documented.startswith("everything but return"):
            assert info.denies == frozenset(a for a in Action if a is not Action.RETURN), rule
        elif documented.startswith("the PIN actions"):
            assert info.denies == frozenset(Action), rule  # the effective set is SiteRules.pin_required
        else:
            named = {a for a in Action if re.search(rf"\b{a.value.replace('checkout', 'check out')}", documented)}
            if info.entry_setting:  # entry: SiteRules.entry_blocks decides
                named.discard(Action.ENTRY)
                assert info.denies - {Action.ENTRY} == named, (rule, documented, sorted(info.denies))
            else:
                assert info.denies == named, (rule, documented, sorted(info.denies))
        assert Action.RETURN not in info.denies or rule in {"L1", "P1", "P2"}
        assert re.fullmatch(rf"{rule}: [a-z(].{{10,}}", info.staff), info.staff
        assert info.rule == rule and info.message_key == f"policy.{rule}"
    assert len({info.staff for info in RULES.values()}) == len(RULES)
    assert policy.allowed_key("pay") == "policy.allowed.pay"


# SiteRules as the [policy] TOML table --------------------------------------------------------------

POLICY_TOML = """
[policy]
max_charges = { "53" = 10, jeugd = "5.00" }
default_max_charges = 20.0
charge_age_days = { annen = 14 }
default_charge_age_days = 60
unmanned_badge = "Onbemande openingsuren"
entry_blocks = ["R1", "R2", "R3", "R4", "R5", "R6", "BL"]
min_entry_age = 16
pin_required = ["checkout", "renew", "hold", "entry"]
show_amounts = false

[policy.lockout]
attempts = 3
window_minutes = 10
lockout_minutes = 30
"""


def test_site_rules_from_toml() -> None:
    rules = SiteRules.model_validate(tomllib.loads(POLICY_TOML)["policy"])
    assert rules.max_charges == {"53": Decimal(10), "jeugd": Decimal("5.00")}
    assert rules.entry_blocks == {"R1", "R2", "R3", "R4", "R5", "R6", "BL"}
    assert rules.pin_required == {Action.CHECKOUT, Action.RENEW, Action.HOLD, Action.ENTRY}
    assert (rules.lockout.attempts, rules.lockout.window_minutes, rules.lockout.lockout_minutes) == (3, 10, 30)
    defaults = SiteRules()
    assert defaults.entry_blocks == policy.DEFAULT_ENTRY_BLOCKS
    assert {"R1", "R2", "R3", "R4", "R5", "R6", "BL"} <= defaults.entry_blocks
    assert defaults.unmanned_badge == "Onbemande openingsuren" and defaults.show_amounts is False


@pytest.mark.parametrize(
    ("table", "path", "text"),
    [
        ({"max_charge": {}}, "max_charge", "Extra inputs are not permitted"),
        ({"max_charges": {"53": "ten"}}, "max_charges.53", "decimal"),
        ({"max_charges": {"53": -1}}, "max_charges", "must be 0 or more"),
        ({"charge_age_days": {"annen": -3}}, "charge_age_days", "must be 0 or more"),
        ({"entry_blocks": ["R7"]}, "entry_blocks", "unknown rule id(s) R7"),
        ({"pin_required": ["borrow"]}, "pin_required.0", "Input should be"),
        ({"lockout": {"attempts": 0}}, "lockout.attempts", "greater than or equal to 1"),
        ({"lockout": {"tries": 3}}, "lockout.tries", "Extra inputs are not permitted"),
        ({"min_entry_age": "sixteen"}, "min_entry_age", "integer"),
        ({"show_amounts": "maybe"}, "show_amounts", "boolean"),
    ],
)
def test_site_rules_are_validated_strictly(table, path, text) -> None:
    with pytest.raises(ValidationError) as info:
        SiteRules.model_validate(table)
    found = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in info.value.errors()]
    assert any(loc == path and text in msg for loc, msg in found), found
