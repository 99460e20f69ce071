from django.utils.translation import gettext_lazy as _

from common.errors import DomainError


class PurchaseConflictError(DomainError):
    default_message = _("A different purchase with this external id is already recorded.")


class RefundTooLargeError(DomainError):
    default_message = _("The refunds would exceed the purchase amount.")


class ReassignmentError(DomainError):
    default_message = _("The accounts could not be reassigned.")
