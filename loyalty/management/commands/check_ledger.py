"""Verifies that stored balances agree with the ledger; exits with status 1 and a report if not."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Min
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.models import PendingAccrual
from loyalty.selectors import ledger_audit

# Lines printed per kind of problem; the count is always printed in full.
REPORT_LIMIT = 50


class Command(BaseCommand):
    help = gettext_lazy(
        "Checks every loyalty account: its balance must equal the sum of its ledger entries "
        "(pending points stay outside the ledger until their return window closes), and the "
        "points fixed per purchase must match the earn entries. Exits with status 1 otherwise."
    )

    def handle(self, *args, **options) -> None:
        waiting = PendingAccrual.objects.aggregate(count=Count("pk"), oldest=Min("created_at"))
        if waiting["count"]:
            # Not an error: large batches are accrued by a worker; a long wait means none runs.
            self.stdout.write(
                self.style.WARNING(
                    _("%(count)s purchases await accrual by a worker (oldest recorded %(oldest)s).")
                    % {"count": waiting["count"], "oldest": waiting["oldest"].isoformat()}
                )
            )
        audit = ledger_audit()
        if audit.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    _("OK: %(count)s accounts agree with the ledger.") % {"count": audit.accounts}
                )
            )
            return
        sections = [
            (
                _("balance differs from the sum of entries"),
                [
                    _("customer %(id)s: stored %(stored)s, ledger %(ledger)s (%(difference)+d)")
                    % {
                        "id": customer_id,
                        "stored": stored,
                        "ledger": ledger,
                        "difference": stored - ledger,
                    }
                    for customer_id, stored, ledger in audit.balance_mismatches
                ],
            ),
            (
                _("entries without an account"),
                [
                    _("customer %(id)s: ledger %(ledger)s") % {"id": customer_id, "ledger": total}
                    for customer_id, total in audit.entries_without_account
                ],
            ),
            (
                _("released purchase points missing from the ledger"),
                [
                    _("purchase %(id)s: fixed %(points)s, earn entry %(earned)s")
                    % {"id": purchase_id, "points": points, "earned": earned}
                    for purchase_id, points, earned in audit.released_points_not_in_ledger
                ],
            ),
            (
                _("pending purchase points already in the ledger"),
                [
                    _("purchase %(id)s") % {"id": purchase_id}
                    for purchase_id in audit.pending_points_in_ledger
                ],
            ),
        ]
        problems = 0
        for title, lines in sections:
            if not lines:
                continue
            problems += len(lines)
            self.stderr.write(f"{len(lines)} {title}:")
            for line in lines[:REPORT_LIMIT]:
                self.stderr.write(f"  {line}")
            if len(lines) > REPORT_LIMIT:
                self.stderr.write(
                    "  " + _("... and %(count)s more") % {"count": len(lines) - REPORT_LIMIT}
                )
        raise CommandError(
            _("The ledger check failed: %(problems)s problems in %(accounts)s accounts.")
            % {"problems": problems, "accounts": audit.accounts},
            returncode=1,
        )
