from django.utils.translation import gettext_lazy as _

from common.errors import DomainError


class PurchaseConflictError(DomainError):
    default_message = _("A different purchase with this external id is already recorded.")


class RefundTooLargeError(DomainError):
    default_message = _("The refunds would exceed the purchase amount.")


class ReassignmentError(DomainError):
    default_message = _("The accounts could not be reassigned.")


class DemoResetBlockedError(DomainError):
    default_message = _("The demo data cannot be reset while other records refer to it.")


class DemoIdsTakenError(DomainError):
    default_message = _("The demo's customer ids are taken by customers that are not demo data.")
