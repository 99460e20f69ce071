"""Imports opening balances from a CSV file (a shop moving its programme here)."""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.csv import write_rows
from common.errors import DomainError
from loyalty.services import import_opening_balances


class Command(BaseCommand):
    help = gettext_lazy(
        "Credits opening balances from FILE, a CSV with a header: external_id (or customer_id), "
        "points, and optionally expires_at (YYYY-MM-DD) and note. Valid rows are imported and "
        "every other row is reported with its line number; a customer who already has an "
        "opening balance is skipped, so the corrected file can be imported again. Exits with "
        "status 1 when any row was refused."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help=gettext_lazy("The CSV file to import."))
        parser.add_argument(
            "--errors",
            type=Path,
            help=gettext_lazy("Also write the refused rows to this CSV file (line, error)."),
        )

    def handle(self, *args, file: Path, errors: Path | None = None, **options) -> None:
        if not file.is_file():
            raise CommandError(_("No such file: %(file)s") % {"file": file})
        try:
            # utf-8-sig: spreadsheets save a byte-order mark in front of the header.
            with file.open(encoding="utf-8-sig", newline="") as stream:
                report = import_opening_balances(stream=stream)
        except (DomainError, UnicodeDecodeError, csv.Error) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            _(
                "Rows: %(rows)s; imported: %(imported)s (%(points)s points); already imported: "
                "%(already)s; refused: %(refused)s."
            )
            % {
                "rows": report.rows,
                "imported": report.imported,
                "points": report.points,
                "already": report.already_imported,
                "refused": len(report.errors),
            }
        )
        for line, message in report.errors:
            self.stderr.write(_("Line %(line)s: %(message)s") % {"line": line, "message": message})
        if errors is not None:
            with errors.open("w", encoding="utf-8", newline="") as stream:
                write_rows(stream, ["line", "error"], report.errors)
        if report.errors:
            raise CommandError(
                _("%(count)s rows were refused.") % {"count": len(report.errors)}, returncode=1
            )
