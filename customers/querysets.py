"""Reusable filters on customers and purchases; who may see what is decided here and nowhere else."""

from django.db import models
from django.db.models import Q


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CustomerQuerySet":
        """The customers `user` may see: all for managers, the covered ones (owner or backup) for reps."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.has_perm("customers.view_all_customers"):
            return self
        return self.filter(Q(owner=user) | Q(backup=user))

    @staticmethod
    def visibility_key(user) -> str:
        """Names the set of customers `visible_to(user)` gives: users with the same key see the
        same customers (kept beside visible_to so that the two rules change together)."""
        if user is None or not user.is_authenticated or not user.is_active:
            return "none"
        if user.has_perm("customers.view_all_customers"):
            return "all"
        return f"covered:{user.pk}"

    def visible_ids(self, user):
        """The ids of `visible_to(user)`: a subquery for filtering other models by customer."""
        return self.visible_to(user).values("pk")

    def covered_by(self, user) -> "CustomerQuerySet":
        """Customers that `user` owns or backs up, whatever the user's role."""
        return self.filter(Q(owner=user) | Q(backup=user))

    def unassigned(self) -> "CustomerQuerySet":
        """Customers with no active owner: none at all, or one whose account was deactivated."""
        return self.filter(Q(owner__isnull=True) | Q(owner__is_active=False))

    def search(self, text: str) -> "CustomerQuerySet":
        text = (text or "").strip()
        if not text:
            return self
        return self.filter(
            Q(name__icontains=text)
            | Q(email__icontains=text)
            | Q(phone__icontains=text)
            | Q(external_id__iexact=text)
        )


class PurchaseQuerySet(models.QuerySet):
    def visible_to(self, user) -> "PurchaseQuerySet":
        """Purchases of the customers `user` may see."""
        from .models import Customer

        return self.filter(customer__in=Customer.objects.visible_ids(user))

    def until(self, moment) -> "PurchaseQuerySet":
        return self.filter(occurred_at__lte=moment)
