"""The domain's error type: a rule was broken, with a message a person can read."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A business rule refused the change; `message` is translated and safe to show to the user."""

    default_message = _("The change was refused.")

    def __init__(self, message: str | None = None, *, field: str | None = None, **context) -> None:
        self.message = str(message or self.default_message)
        self.field = field
        self.context = context
        super().__init__(self.message)
