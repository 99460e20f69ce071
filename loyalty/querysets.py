"""Reusable filters on the programme's tables."""

from django.db import models
from django.db.models import Q

from .errors import LedgerIsAppendOnlyError

# Entries that make up "lots" of points with an expiry date: what was earned (net of the reversal
# of a refunded purchase, which belongs to that purchase's lot) and positive adjustments. Every
# other entry consumes points, soonest-expiring lots first.
LOT_KINDS = ("earn", "partner_earn")
LOT_Q = (
    Q(kind__in=LOT_KINDS)
    | Q(kind="adjust", points__gt=0)
    | Q(kind="reverse", purchase__isnull=False)
)


class LedgerEntryQuerySet(models.QuerySet):
    def lots(self) -> "LedgerEntryQuerySet":
        return self.filter(LOT_Q)

    def consumption(self) -> "LedgerEntryQuerySet":
        return self.exclude(LOT_Q)

    def update(self, **kwargs):
        raise LedgerIsAppendOnlyError

    def delete(self):
        raise LedgerIsAppendOnlyError


class RewardQuerySet(models.QuerySet):
    def active(self) -> "RewardQuerySet":
        return self.filter(active=True)
