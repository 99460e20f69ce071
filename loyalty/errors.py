"""Rules of the points programme that a request can break; messages are safe to show."""

from django.utils.translation import gettext_lazy as _

from common.errors import DomainError


class LoyaltyError(DomainError):
    default_message = _("The points change was refused.")


class InsufficientPointsError(LoyaltyError):
    default_message = _("The customer does not have enough points.")


class RewardUnavailableError(LoyaltyError):
    default_message = _("This reward is not available.")


class RedemptionNotCancellableError(LoyaltyError):
    default_message = _("This redemption has already been cancelled.")


class IdempotencyConflictError(LoyaltyError):
    default_message = _("This request key was already used for a different change.")


class InvalidAdjustmentError(LoyaltyError):
    default_message = _("An adjustment needs a non-zero number of points and a reason.")


class PartnerUnavailableError(LoyaltyError):
    default_message = _("This partner is not active.")


class LedgerIsAppendOnlyError(LoyaltyError):
    default_message = _("Ledger entries are never changed or deleted; record a reversing entry.")
