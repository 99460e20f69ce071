"""`manage.py seed_demo`: demo users and a realistic demo customer base (see customers/demo.py)."""

import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from tqdm import tqdm

from common.errors import DomainError
from customers.demo import DEMO_PASSWORD, MIN_CUSTOMERS, DemoSummary, seed_demo

APP_URL = "http://127.0.0.1:8000/"


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("--today must be a date as YYYY-MM-DD, not %(value)r.") % {"value": value}
        ) from None


class Command(BaseCommand):
    help = "Creates demo users in every role and a demo customer base with two years of purchases."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers", type=int, default=3000, help="How many customers (default 3000)."
        )
        parser.add_argument(
            "--seed", type=int, default=42, help="Random seed; the same seed gives the same data."
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the existing demo customers, purchases and refunds first (other data is kept).",
        )
        parser.add_argument(
            "--today", help="The day the history ends at, YYYY-MM-DD (default: today)."
        )

    def handle(self, *args, **options) -> None:
        if options["customers"] < MIN_CUSTOMERS:
            raise CommandError(_("--customers must be at least %(min)d.") % {"min": MIN_CUSTOMERS})
        today = _iso_date(options["today"]) if options["today"] else None
        with tqdm(total=1, unit=" rows", disable=options["verbosity"] == 0, file=sys.stderr) as bar:

            def report(stage: str, done: int, total: int) -> None:
                bar.total = total
                bar.set_description(stage, refresh=False)
                bar.update(done - bar.n)

            try:
                summary = seed_demo(
                    customers=options["customers"],
                    seed=options["seed"],
                    today=today,
                    reset=options["reset"],
                    progress=report,
                )
            except DomainError as error:
                raise CommandError(error.message) from error
        self._print_summary(summary, seed=options["seed"])

    def _print_summary(self, summary: DemoSummary, *, seed: int) -> None:
        if summary.created:
            self.stdout.write(
                self.style.SUCCESS(
                    _("Demo data created (seed %(seed)s, history up to %(today)s).")
                    % {"seed": seed, "today": summary.today.isoformat()}
                )
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    _(
                        "Demo data already exists; nothing was added. Run with --reset to replace it."
                    )
                )
            )
        figures = [
            (_("Customers"), f"{summary.customers:,}"),
            (_("Purchases"), f"{summary.purchases:,}"),
            (_("Refunds"), f"{summary.refunds:,}"),
            (_("Revenue, net of refunds"), f"{summary.revenue:,.2f} RUB"),
            (_("Top customer"), f"{summary.top_customer_name} ({summary.top_customer_share:.1%})"),
            (_("Top 10 customers"), f"{summary.top10_share:.1%}"),
            (_("Regular customers silent for 90+ days"), f"{summary.silent_regulars:,}"),
        ]
        width = max(len(label) for label, _value in figures)
        for label, value in figures:
            self.stdout.write(f"  {label.ljust(width)}  {value}")

        self.stdout.write("")
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                _("Demo logins (password for every demo account: %(password)s)")
                % {"password": DEMO_PASSWORD}
            )
        )
        rows = [(_("Username"), _("Role"), _("Name"), _("Password"))]
        rows += [
            (
                login.username,
                login.role,
                login.full_name,
                login.password or _("(existing account, left unchanged)"),
            )
            for login in summary.logins
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(4)]
        for number, row in enumerate(rows):
            line = "  ".join(cell.ljust(widths[column]) for column, cell in enumerate(row))
            self.stdout.write("  " + (self.style.SQL_FIELD(line) if number == 0 else line))
        self.stdout.write("")
        self.stdout.write(
            _("Start the server (manage.py runserver) and open %(url)s") % {"url": APP_URL}
        )
