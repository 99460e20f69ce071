"""Points changed by a person: one-off adjustments and opening balances moved from another system."""

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TextIO

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from common.audit import AuditAction, record_audit_event
from customers.models import Customer
from loyalty.errors import (
    IdempotencyConflictError,
    InsufficientPointsError,
    InvalidAdjustmentError,
    LoyaltyError,
)
from loyalty.models import LedgerEntry, Programme

from ._accounts import chunked, existing_keys, load_tiers, lock_accounts, write_entries

logger = logging.getLogger(__name__)


@transaction.atomic
def adjust_points(*, customer_id: int, points: int, by, reason: str, key: str) -> LedgerEntry:
    """Adds (or, with negative `points`, removes) points once per `key`, never below a zero balance.

    Added points are a new lot that expires like earned points; removed points are taken from the
    soonest-expiring lots first.
    """
    reason = (reason or "").strip()
    if not points:
        raise InvalidAdjustmentError(_("Enter a number of points other than zero."), field="points")
    if not reason:
        raise InvalidAdjustmentError(_("Say why the points are adjusted."), field="reason")
    programme, tiers, now = Programme.load(), load_tiers(), timezone.now()
    # The lock first: a concurrent request with the same key then sees this one's entry.
    accounts = lock_accounts([customer_id], programme=programme, tiers=tiers, now=now)
    entry_key = f"adjust:{key}"
    existing = LedgerEntry.objects.filter(key=entry_key).first()
    if existing is not None:
        if existing.customer_id != customer_id or existing.points != points:
            raise IdempotencyConflictError(field="key")
        return existing
    balance = accounts[customer_id].balance
    if balance + points < 0:
        raise InsufficientPointsError(
            _("The customer has only %(balance)s points; a balance never goes below zero.")
            % {"balance": balance},
            field="points",
        )
    entry = LedgerEntry(
        customer_id=customer_id,
        kind=LedgerEntry.Kind.ADJUST,
        points=points,
        key=entry_key,
        created_by=by,
        note=reason[:255],
        expires_at=programme.expiry_for(now) if points > 0 else None,
        created_at=now,
    )
    write_entries([entry], accounts, now=now)
    record_audit_event(
        action=AuditAction.POINTS_ADJUSTED,
        actor=by,
        obj=entry,
        details={"points": points, "balance_before": balance, "balance_after": balance + points},
    )
    logger.info(
        "loyalty.adjusted customer=%s points=%s by=%s", customer_id, points, getattr(by, "pk", None)
    )
    return entry


@dataclass
class OpeningBalanceReport:
    rows: int = 0
    imported: int = 0
    points: int = 0
    already_imported: int = 0
    # (line number in the file, message) for every row that was not imported.
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    line: int
    reference: str
    points: int
    expires_at: datetime | None
    note: str


def opening_key(customer_id: int) -> str:
    """One opening balance per customer: importing the file again changes nothing."""
    return f"opening:{customer_id}"


def _parse_expiry(text: str) -> datetime | None:
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise ValueError(text)
        moment = datetime.combine(day, time.max)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _read(stream: TextIO, report: OpeningBalanceReport, *, now: datetime) -> tuple[str, list[_Row]]:
    sample = stream.readline()
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    header = [
        name.strip().lower().lstrip("\ufeff")
        for name in next(csv.reader([sample], delimiter=delimiter), [])
    ]
    id_column = next((name for name in ("external_id", "customer_id") if name in header), None)
    if id_column is None or "points" not in header:
        raise LoyaltyError(
            _(
                "The file needs a header with an external_id (or customer_id) column and a points column."
            )
        )
    rows, seen = [], {}
    for line, cells in enumerate(csv.reader(stream, delimiter=delimiter), start=2):
        if not any(cell.strip() for cell in cells):
            continue
        report.rows += 1
        record = dict(zip(header, (cell.strip() for cell in cells), strict=False))
        reference = record.get(id_column, "")
        if not reference:
            report.errors.append((line, _("The customer is missing.")))
            continue
        if reference in seen:
            report.errors.append(
                (
                    line,
                    _("The customer already appears on line %(line)s.") % {"line": seen[reference]},
                )
            )
            continue
        seen[reference] = line
        try:
            points = int(record.get("points", ""))
        except ValueError:
            points = 0
        if points <= 0:
            report.errors.append((line, _("Points must be a whole number greater than zero.")))
            continue
        expires_at = None
        if record.get("expires_at"):
            try:
                expires_at = _parse_expiry(record["expires_at"])
            except ValueError:
                report.errors.append((line, _("The expiry date is not a date (use YYYY-MM-DD).")))
                continue
            if expires_at <= now:
                report.errors.append((line, _("The expiry date is in the past.")))
                continue
        rows.append(_Row(line, reference, points, expires_at, record.get("note", "")[:255]))
    return id_column, rows


def _customer_ids(id_column: str, references: Iterable[str]) -> dict[str, int]:
    references = list(references)
    if id_column == "customer_id":
        wanted = {int(reference) for reference in references if reference.isdigit()}
        found = Customer.objects.filter(pk__in=wanted).values_list("pk", flat=True)
        return {str(pk): pk for pk in found}
    return dict(
        Customer.objects.filter(external_id__in=references).values_list("external_id", "pk")
    )


@transaction.atomic
def import_opening_balances(*, stream: TextIO, by=None) -> OpeningBalanceReport:
    """Credits each customer's opening balance from a CSV once; bad rows are reported, not imported.

    Columns: `external_id` (the customer's id in the accounting system) or `customer_id`, `points`,
    and optionally `expires_at` (YYYY-MM-DD; default: the programme's expiry from today) and
    `note`. Commas or semicolons. A customer who already has an opening balance is skipped, so a
    corrected file can be imported again.
    """
    programme, tiers, now = Programme.load(), load_tiers(), timezone.now()
    report = OpeningBalanceReport()
    id_column, rows = _read(stream, report, now=now)
    for part in chunked(rows):
        customers = _customer_ids(id_column, (row.reference for row in part))
        known = []
        for row in part:
            if row.reference in customers:
                known.append(row)
            else:
                report.errors.append((row.line, _("No customer with this id.")))
        accounts = lock_accounts(
            (customers[row.reference] for row in known), programme=programme, tiers=tiers, now=now
        )
        done = existing_keys(opening_key(customers[row.reference]) for row in known)
        entries = []
        for row in known:
            customer_id = customers[row.reference]
            if opening_key(customer_id) in done:
                report.already_imported += 1
                continue
            entries.append(
                LedgerEntry(
                    customer_id=customer_id,
                    kind=LedgerEntry.Kind.ADJUST,
                    points=row.points,
                    key=opening_key(customer_id),
                    created_by=by,
                    note=row.note or _("Opening balance"),
                    expires_at=row.expires_at or programme.expiry_for(now),
                    created_at=now,
                )
            )
        write_entries(entries, accounts, now=now)
        report.imported += len(entries)
        report.points += sum(entry.points for entry in entries)
    report.errors.sort()
    if report.imported:
        # One event for the file: the entries themselves say which customer got what.
        record_audit_event(
            action=AuditAction.POINTS_ADJUSTED,
            actor=by,
            details={
                "opening_balances": report.imported,
                "points": report.points,
                "rows": report.rows,
                "errors": len(report.errors),
            },
        )
    logger.info(
        "loyalty.opening_balances rows=%s imported=%s errors=%s",
        report.rows,
        report.imported,
        len(report.errors),
    )
    return report
