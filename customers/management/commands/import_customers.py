"""`manage.py import_customers FILE`: creates and updates customers from a CSV export.

The command only parses arguments, shows progress and prints the outcome; `customers.imports`
does the work, exactly as for a browser upload.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils.translation import gettext as _
from tqdm import tqdm

from customers import imports

# How many row errors are printed; the rest are in the error CSV.
ERRORS_SHOWN = 10


class ImportCommand(BaseCommand):
    """The shared shape of import_customers and import_purchases."""

    importer = staticmethod(imports.import_customers)
    columns: tuple[imports.Column, ...] = imports.CUSTOMER_COLUMNS

    def add_arguments(self, parser) -> None:
        known = ", ".join(column.name for column in self.columns)
        parser.add_argument("file", help=_("The CSV file to import."))
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="OURS=THEIRS",
            help=_("Read our column OURS from the file's column THEIRS (repeatable). Ours: %(known)s.")
            % {"known": known},
        )
        parser.add_argument(
            "--encoding", help=_("The file's encoding (default: UTF-8, else Windows-1251).")
        )
        parser.add_argument(
            "--delimiter", help=_("The delimiter: ; , or tab (default: guessed from the header).")
        )
        parser.add_argument(
            "--errors-out",
            metavar="PATH",
            help=_("Where to write the error report (default: next to FILE, as FILE.errors.csv)."),
        )

    def handle(self, *args, **options) -> None:
        mapping = self._mapping(options["map"])
        path = Path(options["file"])
        bars: list[tqdm] = []
        progress = {"processed": 0, "total": 0}

        def on_progress(processed: int, total: int) -> None:
            progress.update(processed=processed, total=total)
            # The bar starts once the file is read and its row count known.
            if not bars:
                bars.append(
                    tqdm(
                        total=total,
                        unit=_("rows"),
                        disable=options["verbosity"] == 0,
                        # tqdm redraws its line with carriage returns: it needs the raw stream.
                        file=getattr(self.stderr, "_out", sys.stderr),
                    )
                )
            bars[0].update(processed - bars[0].n)

        try:
            result = self.importer(
                source=path,
                mapping=mapping,
                encoding=options["encoding"],
                delimiter=options["delimiter"],
                on_progress=on_progress,
            )
        except imports.ImportFileError as error:
            raise CommandError(error.message) from error
        except DatabaseError as error:
            # Each batch is one transaction: the batches before the failure are recorded, the one
            # in progress is rolled back, and a re-run skips what is recorded.
            reason = next(iter(str(error).strip().splitlines()), type(error).__name__)
            raise CommandError(
                _(
                    "The database failed during the import (%(reason)s). %(done)s of %(total)s "
                    "rows had been processed and are recorded; the batch in progress was rolled "
                    "back. Run the same command again once the database is back: rows already "
                    "recorded are not added twice."
                )
                % {"reason": reason, "done": progress["processed"], "total": progress["total"]}
            ) from error
        finally:
            for bar in bars:
                bar.close()
        self._print_summary(result)
        if result.errors:
            self._print_errors(result, path, options["errors_out"])

    def _mapping(self, pairs: list[str]) -> dict[str, str]:
        mapping = {}
        for pair in pairs:
            ours, separator, theirs = pair.partition("=")
            if not separator or not ours.strip() or not theirs.strip():
                raise CommandError(
                    _("--map takes OURS=THEIRS, e.g. --map amount=Сумма; got “%(pair)s”.")
                    % {"pair": pair}
                )
            mapping[ours.strip()] = theirs.strip()
        return mapping

    def _print_summary(self, result: imports.ImportResult) -> None:
        self.stdout.write(
            _(
                "Rows: %(total)s. Created: %(created)s. Updated: %(updated)s. "
                "Already present: %(unchanged)s. Rows with errors: %(errors)s."
            )
            % {
                "total": result.total_rows,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "errors": result.error_rows,
            }
        )

    def _print_errors(self, result: imports.ImportResult, path: Path, errors_out: str | None) -> None:
        for error in result.errors[:ERRORS_SHOWN]:
            self.stderr.write(
                _("Row %(row)s, %(column)s “%(value)s”: %(message)s")
                % {
                    "row": error.row,
                    "column": error.column or _("row"),
                    "value": error.value,
                    "message": error.message,
                }
            )
        if len(result.errors) > ERRORS_SHOWN:
            self.stderr.write(
                _("... and %(count)s more.") % {"count": len(result.errors) - ERRORS_SHOWN}
            )
        report = Path(errors_out) if errors_out else path.with_name(f"{path.name}.errors.csv")
        try:
            report.write_bytes(imports.error_report_bytes(errors=result.errors))
        except OSError as error:
            self.stderr.write(
                _("The error report could not be written to %(path)s: %(reason)s")
                % {"path": report, "reason": error.strerror or error}
            )
            return
        self.stdout.write(_("All errors are in %(path)s.") % {"path": report})


class Command(ImportCommand):
    @property
    def help(self) -> str:  # translated when asked for, in the active language
        return _(
            "Imports customers from a CSV file (1C exports welcome): new external ids are "
            "created, known ones updated; rows with errors are skipped and reported."
        )
