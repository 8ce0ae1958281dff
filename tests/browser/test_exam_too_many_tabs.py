"""The exam page refused for too many sockets (4429) says so in words, keeps its clock, does not reconnect in a
loop, and gets its live clock back by itself once another tab closes. Headless Chromium, real daphne."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser.conftest import open_exam
from tests.factories import make_exam, make_user

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TABS = settings.SOCKETS_PER_ATTEMPT  # the default the server runs with: one more is refused
# live.js: a 4429 is tried again 20 to 40 s later; a timer may fire late on a loaded machine.
LATER_MIN_SECONDS = 20.0
LATER_MAX_SECONDS = 45.0


def test_a_fourth_tab_says_why_it_has_no_live_clock_waits_and_comes_back_when_a_tab_closes(web, pages):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30)
    tabs = []
    for n in range(TABS):
        tab = pages.open(f"tab-{n}")
        open_exam(tab, web.base_url, student.username, exam.pk)
        expect(tab.locator("#connection")).to_have_attribute("data-state", "live")
        tabs.append(tab)

    extra = pages.open("extra")
    connects: list[float] = []
    extra.on("websocket", lambda socket: connects.append(time.monotonic()))
    open_exam(extra, web.base_url, student.username, exam.pk)
    line = extra.locator("#connection")
    expect(line).to_contain_text("open in too many tabs or windows")
    refused_at = time.monotonic()
    clock_before = float(extra.locator("#clock").get_attribute("data-remaining"))
    extra.wait_for_timeout(5000)  # five seconds of the page's own life: no reconnect in a loop
    assert len(connects) == 1, connects
    assert float(extra.locator("#clock").get_attribute("data-remaining")) < clock_before  # the clock counts on
    pages.screenshot(extra, "too-many-tabs", doc="exam-too-many-tabs")

    tabs[0].context.close()
    expect(line).to_have_attribute("data-state", "live", timeout=(LATER_MAX_SECONDS + 5) * 1000)
    back_after = time.monotonic() - refused_at
    print(f"\nthe fourth tab: {len(connects)} connects, live again {back_after:.1f} s after its refusal")
    assert len(connects) == 2
    assert LATER_MIN_SECONDS - 1 <= back_after <= LATER_MAX_SECONDS + 5
