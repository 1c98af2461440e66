"""The console in a real browser (Selenium + Debian's headless Chromium), against
a real broker and a simulated door: log in, a door's entry appears live, an alarm
is acknowledged, remote release as operator (refused as viewer), audit search by
card, "why refused?" answered by the site, keyboard and labels."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from devices import sim
from kiosk.privacy import pseudonym

from .conftest import CARD, DOOR_KEY, NO_BADGE, STAFF_PW

pytestmark = pytest.mark.timeout(120)
SHOTS = os.environ.get("BIBKIOSK_SCREENSHOTS")  # e.g. docs/screenshots: also write the README's screenshots


def shot(browser, name: str, full: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        if full:  # the whole page, up to 1600 px high
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(1280, min(1600, max(900, height + 130)))
        browser.save_screenshot(str(Path(SHOTS) / f"console-{name}.png"))
        if full:
            browser.set_window_size(1280, 900)


def login(browser, base: str, user: str) -> None:
    browser.delete_all_cookies()
    browser.get(base + "/login")
    browser.find_element(By.ID, "username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(STAFF_PW)
    browser.find_element(By.ID, "login-button").click()
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "logout")))


def test_login_and_an_entry_appears_within_a_second(site, browser):
    base = site["console"].url
    browser.get(base + "/")
    assert "/login" in browser.current_url
    shot(browser, "login")
    login(browser, base, "otto")
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-device="b1/door"]')))
    browser.find_element(By.LINK_TEXT, "Bibliotheek Centrum").click()
    table = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "live-entries")))
    time.sleep(0.5)  # the page's EventSource connects
    before = len(table.find_elements(By.CSS_SELECTOR, "tbody tr"))
    outcome = site["door"].enter()
    t0 = time.monotonic()
    assert outcome.granted
    WebDriverWait(browser, 1.0, poll_frequency=0.02).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#live-entries tbody tr")) > before)
    elapsed = time.monotonic() - t0
    row = browser.find_elements(By.CSS_SELECTOR, "#live-entries tbody tr")[0].text
    assert "granted" in row and pseudonym(CARD, DOOR_KEY.encode()) in row and CARD not in row
    assert elapsed < 1.0
    if SHOTS:
        time.sleep(1.0)  # the occupancy card follows the door's next state
    shot(browser, "site", full=True)


def test_acknowledge_an_alarm(site, browser):
    base = site["console"].url
    login(browser, base, "otto")
    browser.get(base + "/site/b1")
    time.sleep(0.5)
    door = site["door"]
    if door.svc.monitor.lock.value != "locked":  # an earlier entry's release window: open and close relocks
        sim.open_door(name="cdoor")
        time.sleep(0.1)
        sim.close_door(name="cdoor")
    WebDriverWait(browser, 10).until(lambda d: door.svc.monitor.lock.value == "locked")
    time.sleep(0.1)
    sim.open_door(name="cdoor")  # no release: forced open
    ack = WebDriverWait(browser, 10).until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#alarms button[id^=ack-]")))
    assert "forced open" in browser.find_element(By.ID, "alarms").text.lower()
    browser.get(base + "/")
    assert "forced open" in browser.find_element(By.ID, "sites").text.lower()
    shot(browser, "sites")
    browser.get(base + "/site/b1")
    button = WebDriverWait(browser, 10).until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#alarms button[id^=ack-]")))
    time.sleep(0.5)
    button.click()
    WebDriverWait(browser, 10).until(EC.text_to_be_present_in_element((By.ID, "alarms"), "acknowledged by otto"))
    sim.close_door(name="cdoor")


def test_remote_release_as_operator_and_refused_as_viewer(site, browser):
    base = site["console"].url
    login(browser, base, "vera")
    browser.get(base + "/site/b1")
    assert not browser.find_elements(By.ID, "act-door-release")
    browser.get(base + "/site/b1/door/release")
    assert "operator" in browser.find_element(By.ID, "error-message").text
    login(browser, base, "otto")
    browser.get(base + "/site/b1")
    browser.find_element(By.ID, "act-door-release").click()
    seconds = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "seconds")))
    seconds.clear()
    seconds.send_keys("4")
    browser.find_element(By.ID, "reason").send_keys("patron with a wheelchair at the door")
    shot(browser, "action")
    browser.find_element(By.ID, "send-action").click()
    # Without the confirmation tick: refused, nothing sent.
    error = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "action-error")))
    assert "confirmation" in error.text
    WebDriverWait(browser, 10).until(EC.element_to_be_clickable((By.ID, "confirm"))).click()
    browser.find_element(By.ID, "send-action").click()
    result = WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.ID, "action-result")))
    assert "Done" in result.text
    assert sim.lock_history(name="cdoor")[-1] == ("release", 4.0)
    # Audited on the console with staff member and reason ...
    browser.get(base + "/audit?go=1&site=b1")
    acts = browser.find_element(By.ID, "staff-actions").text
    assert "otto" in acts and "patron with a wheelchair at the door" in acts
    # ... and on the door.
    from kiosk.door.audit import AuditJournal

    with AuditJournal(site["tmp"] / "door-state" / "door-audit.sqlite", readonly=True) as j:
        rows = [(e.result, e.detail) for e in j.entries(event="remote")]
    assert any(r == "release" and "staff=otto" in d and "wheelchair" in d for r, d in rows)


def test_audit_search_by_card(site, browser):
    base = site["console"].url
    site["door"].enter()
    login(browser, base, "vera")
    browser.get(base + "/audit")
    browser.find_element(By.ID, "card").send_keys(CARD)
    browser.find_element(By.ID, "search").click()
    results = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "audit-results")))
    assert pseudonym(CARD, DOOR_KEY.encode()) in results.text and "granted" in results.text
    assert CARD not in browser.page_source.replace(f'value="{CARD}"', "")
    shot(browser, "audit")


def test_why_refused_answered_by_the_site(site, browser):
    base = site["console"].url
    login(browser, base, "otto")
    browser.get(base + "/why")
    Select(browser.find_element(By.ID, "target")).select_by_value("b1/door")
    browser.find_element(By.ID, "card").send_keys(NO_BADGE)
    Select(browser.find_element(By.ID, "check_action")).select_by_value("entry")
    browser.find_element(By.ID, "reason").send_keys("patron on the phone")
    browser.find_element(By.ID, "ask").click()
    verdict = WebDriverWait(browser, 40).until(EC.presence_of_element_located((By.ID, "why-verdict")))
    assert verdict.text == "Refused"
    rules = browser.find_element(By.ID, "why-rules").text
    assert "B1" in rules and "No unmanned-hours badge" in rules
    shot(browser, "why", full=True)
    # In the staff member's language: French.
    Select(browser.find_element(By.ID, "lang-select")).select_by_value("fr")
    browser.find_element(By.CSS_SELECTOR, "form[action='/language'] button").click()
    # The click navigates: the old page's <html> may go stale between find and read.
    WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    )
    assert "Pourquoi refusé" in browser.page_source


def test_keyboard_only_login_and_every_field_labelled(site, browser):
    base = site["console"].url
    browser.delete_all_cookies()
    browser.get(base + "/login")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)  # the skip link comes first
    assert browser.switch_to.active_element.get_attribute("class") == "skip"
    browser.find_element(By.ID, "username").click()
    active = browser.switch_to.active_element
    active.send_keys("otto", Keys.TAB)
    browser.switch_to.active_element.send_keys(STAFF_PW, Keys.ENTER)
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "logout")))
    for path in ("/", "/site/b1", "/audit", "/why", "/site/b1/door/lockdown"):
        browser.get(base + path)
        unlabelled = browser.execute_script("""
            return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')).filter(function (el) {
              return !(el.id && document.querySelector('label[for="' + el.id + '"]')) && !el.getAttribute('aria-label');
            }).map(function (el) { return el.name || el.id; });""")
        assert unlabelled == [], (path, unlabelled)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") in ("en", "nl", "fr")
        assert browser.find_elements(By.CSS_SELECTOR, "main h1")
