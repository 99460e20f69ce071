"""Takes screenshots of the main pages for the README (headless Debian chromium via Playwright).

Usage: .venv/bin/python scripts/screenshots.py [--base-url URL] [--out docs/screenshots]
Expects a running server with the demo data (scripts/run.sh) at --base-url.
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "retention-demo"  # noqa: S105 - the documented demo password

PAGES = [
    # (user, path, file name, viewport width)
    ("manager", "/", "overview.png", 1280),
    ("manager", "/dashboard/", "dashboard.png", 1280),
    ("manager", "/customers/", "customers.png", 1280),
    ("manager", "/customers/segmentation/", "segmentation.png", 1280),
    ("manager", "/customers/imports/", "imports.png", 1280),
    ("rep1", "/customers/", "rep-customers-phone.png", 390),
    ("rep1", "/contacts/call-list/", "call-list.png", 1280),
    ("rep1", "/contacts/call-list/", "call-list-phone.png", 390),
    ("manager", "/customers/38/", "customer.png", 1280),
]


def login(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--only", nargs="*", help="file names to take")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for username, path, name, width in PAGES:
            if args.only and name not in args.only:
                continue
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            login(page, args.base_url, username)
            page.goto(f"{args.base_url}{path}")
            page.wait_for_load_state("networkidle")
            # Long pages (a rep's whole call list) are shown as their first screen.
            full = page.evaluate("document.body.scrollHeight") <= 2400
            page.screenshot(path=str(out / name), full_page=full)
            print(f"{name}: {path} as {username} at {width}px")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
