"""Runs the nightly pipeline in this process (the embedded default; production uses beat)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from retention import nightly


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from None


class Command(BaseCommand):
    help = (
        "Runs the nightly jobs for a business date: rescore, plan contacts, expire points, "
        "review tiers, managers' digest. A job that already succeeded for that date is skipped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", type=_parse_date, help="business date, default today")
        parser.add_argument("--only", nargs="*", choices=nightly.NIGHTLY_ORDER)

    def handle(self, *args, **options) -> None:
        names = [n for n in nightly.NIGHTLY_ORDER if not options["only"] or n in options["only"]]
        run_date = options["as_of"]
        failed = False
        for name in tqdm(names, desc="nightly", unit="job", disable=options["verbosity"] == 0):
            runs = nightly.run_nightly(run_date, only=[name])
            for run in runs:
                failed |= run.status == run.Status.FAILED
                self.stdout.write(
                    f"{run.job:<16} {run.get_status_display():<10} attempts={run.attempts} "
                    f"{run.counts}" + (f" error={run.error}" if run.error else "")
                )
        if failed:
            raise CommandError("a nightly job failed (recorded on its JobRun; managers alerted)")
