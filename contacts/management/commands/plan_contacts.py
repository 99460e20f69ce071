from datetime import date

from django.core.management.base import BaseCommand, CommandError

from contacts.services import plan_contacts


class Command(BaseCommand):
    help = (
        "Turns the active contact plans into the day's call-list entries and messages (idempotent)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--day", help="The day to plan, YYYY-MM-DD (default: today).")

    def handle(self, *args, day: str | None = None, **options) -> None:
        try:
            planned_day = date.fromisoformat(day) if day else None
        except ValueError as error:
            raise CommandError(f"--day must be YYYY-MM-DD, not {day!r}") from error
        for outcome in plan_contacts(day=planned_day):
            self.stdout.write(
                f"{outcome.plan}: {outcome.candidates} due, {outcome.entries} call-list entries, "
                f"{outcome.messages} messages, {outcome.refused} refused"
            )
