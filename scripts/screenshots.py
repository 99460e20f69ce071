"""Takes screenshots of the main pages for the README (headless Debian chromium via Playwright).

Usage: .venv/bin/python scripts/screenshots.py [--base-url URL] [--out docs/screenshots]
       .venv/bin/python scripts/screenshots.py --check --out /tmp/shots   # every page, both widths
Expects a running server with the demo data (scripts/run.sh) at --base-url.

--check takes every page below at 1280 px and at 390 px (a phone) and reports any page that
scrolls sideways; the README's set is the default.
"""

import argparse
import contextlib
import re
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "retention-demo"  # noqa: S105 - the documented demo password
WIDTHS = (1280, 390)

PAGES = [
    # (user, path, file name, viewport width); {customer} is the first customer on rep1's list.
    ("manager", "/dashboard/", "dashboard.png", 1280),
    ("manager", "/dashboard/", "dashboard-phone.png", 390),
    ("manager", "/customers/", "customers.png", 1280),
    ("manager", "/customers/segmentation/", "segmentation.png", 1280),
    ("manager", "/customers/imports/", "imports.png", 1280),
    ("rep1", "/customers/", "rep-customers-phone.png", 390),
    ("rep1", "/contacts/call-list/", "call-list.png", 1280),
    ("rep1", "/contacts/call-list/", "call-list-phone.png", 390),
    ("manager", "/customers/{customer}/", "customer.png", 1280),
    ("rep1", "/customers/{customer}/", "customer-phone.png", 390),
    ("rep1", "/customers/{customer}/#schedule", "customer-schedule.png", 1280),
    ("admin", "/admin/", "admin.png", 1280),
]

# Every page a person opens, for --check (user, path).
CHECKED = [
    ("manager", "/"),
    ("manager", "/dashboard/"),
    ("manager", "/dashboard/?rep={rep}&period=12"),
    ("manager", "/customers/"),
    ("manager", "/customers/?dormant=true&ordering=-at_risk"),
    ("manager", "/customers/segmentation/"),
    ("manager", "/customers/reassign/"),
    ("manager", "/customers/imports/"),
    ("manager", "/customers/audit/"),
    ("manager", "/customers/{customer}/"),
    ("manager", "/customers/{customer}/#reassign"),
    ("manager", "/customers/{customer}/reassign/"),
    ("manager", "/contacts/key-accounts/"),
    ("manager", "/contacts/performance/"),
    ("manager", "/loyalty/reports/"),
    ("rep1", "/"),
    ("rep1", "/customers/"),
    ("rep1", "/customers/{customer}/"),
    ("rep1", "/customers/{customer}/#schedule"),
    ("rep1", "/customers/{customer}/#log-call"),
    ("rep1", "/contacts/call-list/"),
    ("rep1", "/contacts/customers/{customer}/"),
    ("rep1", "/contacts/customers/{customer}/schedule/"),
    ("admin", "/admin/"),
    ("admin", "/admin/customers/customer/"),
    ("admin", "/admin/auth/user/"),
    ("admin", "/admin/contacts/caprule/"),
    ("admin", "/admin/contacts/contactplan/"),
    ("admin", "/admin/django_celery_beat/periodictask/"),
]

# A fragment names the customer-page action to open once the page is there.
ACTIONS = {"schedule": "action-schedule", "reassign": "action-reassign", "log-call": "action-log-call"}


def login(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")


def first_customer(browser, base_url: str) -> tuple[str, str]:
    """The id of the first customer on rep1's call list (or list) and a rep's id, for the paths."""
    context = browser.new_context()
    page = context.new_page()
    login(page, base_url, "rep1")
    page.goto(f"{base_url}/contacts/call-list/")
    link = page.locator("[data-testid=call-row] a[href^='/customers/']").first
    if not link.count():
        page.goto(f"{base_url}/customers/")
        link = page.locator("a[href^='/customers/']").filter(has_text=re.compile(r"\w")).nth(0)
    customer = re.search(r"/customers/(\d+)/", link.get_attribute("href")).group(1)
    context.close()
    context = browser.new_context()
    page = context.new_page()
    login(page, base_url, "manager")
    page.goto(f"{base_url}/dashboard/")
    rep = page.locator("select[name=rep] option").nth(1).get_attribute("value")
    context.close()
    return customer, rep


def shoot(browser, base_url: str, username: str, path: str, width: int, file: Path) -> int:
    """Takes one screenshot; returns how many pixels the page scrolls sideways."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    login(page, base_url, username)
    path, _hash, action = path.partition("#")
    page.goto(f"{base_url}{path}")
    # A page that keeps a request open (the admin's) is shot once loaded.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=10_000)
    if action:
        page.click(f"[data-testid={ACTIONS[action]}]")
        page.wait_for_selector("#action-area .customer-action")
        page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # charts animate for a second (Chart.js default): let them finish
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    # Long pages (a rep's whole call list) are shown as their first screens.
    full = page.evaluate("document.body.scrollHeight") <= 3000
    page.screenshot(path=str(file), full_page=full)
    context.close()
    return overflow


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument(
        "--only", nargs="*", help="file names to take (with --check: parts of the paths)"
    )
    parser.add_argument("--check", action="store_true", help="every page at 1280 and 390 px")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        customer, rep = first_customer(browser, args.base_url)
        if args.check:
            shots = [
                (user, path, width, f"{user}{re.sub(r'[^a-z0-9]+', '-', path)}-{width}.png")
                for user, path in CHECKED
                for width in WIDTHS
                if not args.only or any(part in path for part in args.only)
            ]
        else:
            shots = [
                (user, path, width, name)
                for user, path, name, width in PAGES
                if not args.only or name in args.only
            ]
        problems = []
        for username, path, width, name in shots:
            path = path.format(customer=customer, rep=rep)
            overflow = shoot(browser, args.base_url, username, path, width, out / name)
            print(f"{name}: {path} as {username} at {width}px" + (
                f"  SCROLLS SIDEWAYS by {overflow}px" if overflow > 1 else ""
            ))
            if overflow > 1:
                problems.append(name)
        browser.close()
    if problems:
        raise SystemExit(f"pages wider than the screen: {', '.join(problems)}")


if __name__ == "__main__":
    main()
