"""Refusals of the contact rules; each carries a message a person understands and, where one
exists, the earliest time the contact would be allowed."""

from datetime import datetime

from django.utils.translation import gettext_lazy as _

from common.errors import DomainError


class ContactRefusedError(DomainError):
    default_message = _("This contact is not allowed.")

    def __init__(
        self,
        message: str | None = None,
        *,
        next_allowed_at: datetime | None = None,
        refusal_id: int | None = None,
        **context,
    ) -> None:
        super().__init__(message, **context)
        self.next_allowed_at = next_allowed_at
        self.refusal_id = refusal_id


class NoConsentError(ContactRefusedError):
    default_message = _("The customer has not agreed to be contacted on this channel.")


class PausedError(ContactRefusedError):
    default_message = _("Contact with this customer is paused.")


class CapExceededError(ContactRefusedError):
    default_message = _("The frequency cap for this channel is reached.")


class NoAddressError(ContactRefusedError):
    default_message = _("The customer has no address on this channel.")


class ConsentError(DomainError):
    default_message = _("Consent cannot be recorded for this channel.")


class MessageTemplateMissingError(DomainError):
    default_message = _("There is no active message template for this message.")


class OutcomeError(DomainError):
    default_message = _("The call outcome could not be logged.")


class FeedbackError(DomainError):
    default_message = _("The answer could not be recorded.")


class PreferencesError(DomainError):
    default_message = _("The contact preferences could not be saved.")
