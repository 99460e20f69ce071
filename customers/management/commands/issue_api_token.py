"""`manage.py issue_api_token USERNAME`: prints the API token of a user, making one if needed.

A system (a shop, the accounting system) calls the API as a user of its own, so its token sees
what that user's role sees: give a shop pushing purchases for every customer a user in the
"Sales manager" group, and a rep's tool the rep's own user.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    @property
    def help(self) -> str:  # translated when asked for, in the active language
        return _(
            "Prints the API token of an active user, creating it when the user has none; "
            "--rotate replaces an existing token (the old one stops working at once)."
        )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help=_("Replace the user's token with a new one.")
        )

    @transaction.atomic
    def handle(self, *args, username: str, rotate: bool, **options) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(_("No active user named %(name)s.") % {"name": username})
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if created:
            self.stderr.write(_("New token for %(name)s.") % {"name": username})
        # Only the key goes to stdout, so scripts can capture it.
        self.stdout.write(token.key)
