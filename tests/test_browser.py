"""The main pages in headless Chromium: a manager, a rep and an admin, as a person would use them."""

import shutil
from contextlib import contextmanager
from datetime import timedelta

import pytest

from customers import analytics, scoring
from tests.customers.test_scoring import AS_OF, simulated_base
from tests.factories import ManagerFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

PASSWORD = "pass-for-tests-1"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def browser_page(width: int = 1280):
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
            args=CHROMIUM_ARGS,
        )
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")


def canvas_has_ink(page, selector: str) -> bool:
    """True when the canvas has at least one non-transparent pixel (the chart drew)."""
    return page.evaluate(
        """(selector) => {
            const canvas = document.querySelector(selector);
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) return true; }
            return false;
        }""",
        selector,
    )


@pytest.fixture
def scored_base(time_machine):
    time_machine.move_to(AS_OF + timedelta(days=1), tick=True)
    simulated_base(n=120)
    scoring.score_customers(as_of=AS_OF)
    analytics.refresh_base_metrics(as_of=AS_OF)


def test_manager_dashboard_charts_draw_and_a_matrix_cell_opens_its_list(live_server, scored_base):
    ManagerFactory(username="boss")
    with browser_page() as page:
        log_in(page, live_server.url, "boss")
        assert page.url.endswith("/dashboard/")
        page.wait_for_function("() => document.querySelector('#trend-chart').width > 0")
        page.wait_for_timeout(500)  # Chart.js animates the first frame
        assert canvas_has_ink(page, "#trend-chart")
        assert canvas_has_ink(page, "#activity-chart")
        page.wait_for_selector("[data-testid=rep-table]")
        cell = page.locator("[data-testid=matrix-C-high]")
        expected = int(cell.locator(".fw-semibold").inner_text().replace(",", "").strip() or 0)
        cell.click()
        page.wait_for_load_state("networkidle")
        assert "value_class=C" in page.url
        assert "risk=high" in page.url
        shown = page.locator("h1 .badge").inner_text().replace(",", "").strip()
        assert int(shown) == expected


def test_language_switch_turns_the_pages_russian(live_server, scored_base):
    ManagerFactory(username="boss")
    with browser_page() as page:
        log_in(page, live_server.url, "boss")
        page.click("[data-testid=language-switcher] button[value=ru]")
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == "ru"
        assert "Клиенты" in page.locator("nav").inner_text()
        page.click("[data-testid=language-switcher] button[value=en]")
        page.wait_for_load_state("networkidle")
        assert "Customers" in page.locator("nav").inner_text()


def test_admin_opens_the_loyalty_configuration(live_server):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    with browser_page() as page:
        log_in(page, live_server.url, "root")
        page.goto(f"{live_server.url}/admin/loyalty/tier/")
        page.wait_for_load_state("networkidle")
        assert page.locator("#result_list").count() == 1
        assert "Gold" in page.content()


def test_pages_fit_a_phone_screen(live_server, scored_base):
    ManagerFactory(username="boss")
    with browser_page(width=390) as page:
        log_in(page, live_server.url, "boss")
        for path in ("/dashboard/", "/customers/", "/customers/segmentation/",
                     "/contacts/call-list/", "/contacts/key-accounts/", "/admin/"):
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} scrolls sideways by {overflow}px on a phone"


def test_a_rep_schedules_a_contact_and_a_cap_refusal_says_why_and_when(live_server):
    from contacts import services
    from contacts.models import Channel, Kind, Touch
    from tests.factories import CustomerFactory, RepFactory

    rep = RepFactory(username="anna")
    customer = CustomerFactory(owner=rep, name="Capped Ltd")
    first = services.schedule_contact(
        customer_id=customer.pk, channel=Channel.SMS, kind=Kind.ADVERTISING, source="system",
        key="browser-first",
    )
    with browser_page() as page:
        log_in(page, live_server.url, "anna")
        page.goto(f"{live_server.url}/customers/{customer.pk}/")
        page.wait_for_selector("[data-testid=customer-contacts]")  # the panel loads after the page
        page.click("[data-testid=action-schedule]")
        form = page.locator("[data-testid=schedule-action]")
        form.locator("select[name=channel]").select_option("sms")
        form.locator("select[name=kind]").select_option("advertising")
        form.locator("button[type=submit]", has_text="Book").last.click()
        refusal = page.locator("[data-testid=schedule-refusal]")
        refusal.wait_for()
        assert "SMS" in refusal.inner_text()
        assert page.locator("[data-testid=next-allowed]").inner_text().strip()
        assert page.url.endswith(f"/customers/{customer.pk}/")  # no page change
        refusal.locator("button[type=submit]").click()
        page.wait_for_selector("[data-testid=action-notice]")
        # The contacts panel reloads and lists the new booking.
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=touch-log] li').length === 2"
        )
    planned = Touch.objects.filter(customer=customer).exclude(pk=first.pk).get()
    assert planned.at > first.at


def test_a_manager_reassigns_an_account_from_its_page(live_server):
    from common.models import AuditEvent
    from tests.factories import CustomerFactory, RepFactory

    ManagerFactory(username="boss")
    old, new = RepFactory(username="old", first_name="Olga"), RepFactory(
        username="new", first_name="Nikolai", last_name="Petrov"
    )
    customer = CustomerFactory(owner=old, name="Moving Ltd")
    with browser_page() as page:
        log_in(page, live_server.url, "boss")
        page.goto(f"{live_server.url}/customers/{customer.pk}/")
        page.click("[data-testid=action-reassign]")
        form = page.locator("[data-testid=reassign-action]")
        form.locator("select[name=to_rep]").select_option(str(new.pk))
        form.locator("button[type=submit]").click()
        notice = page.locator("[data-testid=action-notice]")
        notice.wait_for()
        assert "Nikolai Petrov" in notice.inner_text()
    customer.refresh_from_db()
    assert customer.owner == new
    assert AuditEvent.objects.filter(action="customers_reassigned", customer_id=customer.pk).exists()


def test_the_customer_page_draws_its_purchases_and_fits_a_phone(live_server):
    from tests.factories import CustomerFactory, PurchaseFactory, RepFactory

    rep = RepFactory(username="anna")
    customer = CustomerFactory(owner=rep)
    PurchaseFactory.create_batch(3, customer=customer)
    for width in (1280, 390):
        with browser_page(width=width) as page:
            log_in(page, live_server.url, "anna")
            page.goto(f"{live_server.url}/customers/{customer.pk}/")
            page.wait_for_selector("[data-testid=loyalty-panel]")
            page.wait_for_selector("[data-testid=customer-contacts]")
            page.wait_for_timeout(500)  # Chart.js animates the first frame
            assert canvas_has_ink(page, "#purchases-chart")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"the customer page scrolls sideways by {overflow}px at {width}"
