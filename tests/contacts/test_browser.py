"""A rep works the call list in a real browser (headless Chromium): htmx swaps, errors, phone width."""

import shutil
import threading
from contextlib import contextmanager

import pytest

from contacts.models import CallListEntry, Touch
from tests.contacts.factories import CallListEntryFactory, CustomerScoreFactory
from tests.factories import CustomerFactory, RepFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.contacts.urls"),
]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "pass-for-tests-1"


@contextmanager
def chromium_page():
    """A phone-sized page in headless Chromium.

    Playwright's sync API runs an event loop in this thread while it is open, and Django gives
    code under a running loop a connection of its own; so tests touch the database only before
    and after the browser, never inside this block.
    """
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
    # The live server answers keep-alive connections in threads holding a database connection
    # until the browser has gone; let them finish so the test database can be dropped.
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(timeout=5)


def test_a_rep_logs_a_no_answer_and_a_reason_for_leaving_without_leaving_the_page(live_server):
    rep = RepFactory(username="anna")
    quiet = CustomerFactory(owner=rep, name="Quiet Customer Ltd")
    CallListEntryFactory(customer=quiet)
    gone = CustomerFactory(owner=rep, name="Gone Customer Ltd")
    CustomerScoreFactory(customer=gone, value_class="A", dormant=True)
    CallListEntryFactory(customer=gone, reason=CallListEntry.Reason.WIN_BACK)

    with chromium_page() as page:
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", "anna")
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.goto(f"{live_server.url}/contacts/call-list/")

        rows = page.locator("[data-testid=call-row]")
        assert rows.count() == 2
        # The dormant key account is first and says why.
        assert "Gone Customer Ltd" in rows.nth(0).inner_text()
        assert "dormant" in rows.nth(0).inner_text()
        # Nothing sticks out sideways on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        quiet_row = page.locator(f"#call-row-{quiet.pk}")
        quiet_row.locator("label", has_text="No answer").click()
        quiet_row.locator("button[type=submit]").click()
        page.locator(f"#call-row-{quiet.pk} [data-testid=logged]").wait_for()
        assert "No answer" in page.locator(f"#call-row-{quiet.pk}").inner_text()

        gone_row = page.locator(f"#call-row-{gone.pk}")
        gone_row.locator("label", has_text="Reached").click()
        gone_row.locator("button[type=submit]").click()
        page.locator(f"#call-row-{gone.pk} [data-testid=error-leave_reason]").wait_for()
        page.locator(f"#call-row-{gone.pk} select[name=leave_reason]").select_option("competitor")
        page.locator(f"#call-row-{gone.pk} button[type=submit]").click()
        page.locator(f"#call-row-{gone.pk} [data-testid=logged]").wait_for()
        assert "Competitor offer" in page.locator(f"#call-row-{gone.pk}").inner_text()
        assert page.url.endswith("/contacts/call-list/")

        page.reload()
        assert page.locator("[data-testid=call-list] [data-testid=call-row]").count() == 0
        assert "Done today" in page.content()

    assert sorted(Touch.objects.values_list("outcome", "leave_reason")) == [
        ("no_answer", ""),
        ("reached", "competitor"),
    ]
