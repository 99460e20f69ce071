"""The points programme: its configuration, the append-only ledger and the accounts it feeds.

How the numbers fit together (the services keep these true, `check_ledger` verifies them):

* `LedgerEntry` is the only record of points moving. Every entry is spendable from the moment it is
  written; its `points` are signed. An account's `balance` equals the sum of its entries, is
  updated in the same transaction as every entry, and never goes below zero (a CHECK constraint).
* Points still inside the return window are *pending*: they live in `PurchasePoints` (released_at
  empty) and reach the ledger as an `earn` entry when the window closes. Pending points are shown,
  never spent, and are not part of the balance.
* Tier-qualifying spend comes from purchases and refunds, never from points, so redeeming points
  never demotes anybody.
"""

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .errors import LedgerIsAppendOnlyError
from .periods import add_months
from .querysets import LedgerEntryQuerySet, RewardQuerySet

POINTS_RATE_DIGITS = 10
POINTS_RATE_PLACES = 4
MONEY_DIGITS = 14
MONEY_PLACES = 2
ENTRY_KEY_LENGTH = 150
CALLER_KEY_LENGTH = 100


def default_currency() -> str:
    return settings.DEFAULT_CURRENCY


def _codes(text: str) -> frozenset[str]:
    return frozenset(
        part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()
    )


class Programme(models.Model):
    """The programme's rules; there is exactly one row (id 1), created by a data migration."""

    class Rounding(models.TextChoices):
        DOWN = "down", _("Round down")
        HALF_UP = "half_up", _("Round half up")

    name = models.CharField(_("name"), max_length=100, default="Loyalty programme")
    points_per_unit = models.DecimalField(
        _("points per currency unit"),
        max_digits=POINTS_RATE_DIGITS,
        decimal_places=POINTS_RATE_PLACES,
        default=Decimal("0.01"),
        help_text=_("0.01 gives one point per 100 of the currency, before the tier multiplier."),
    )
    rounding = models.CharField(
        _("rounding of points"), max_length=10, choices=Rounding.choices, default=Rounding.DOWN
    )
    minimum_purchase = models.DecimalField(
        _("minimum purchase"),
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        default=Decimal("0"),
        help_text=_("Smaller purchases earn no points and do not count towards a tier."),
    )
    qualifying_currencies = models.CharField(
        _("qualifying currencies"),
        max_length=200,
        blank=True,
        default=default_currency,
        help_text=_("Comma-separated currency codes, e.g. RUB. Empty: every currency."),
    )
    qualifying_sources = models.CharField(
        _("qualifying sources"),
        max_length=200,
        blank=True,
        default="",
        help_text=_(
            "Comma-separated purchase sources (import, api, ui, demo). Empty: every source."
        ),
    )
    return_window_days = models.PositiveIntegerField(
        _("return window, days"),
        default=0,
        help_text=_(
            "Points stay pending this many days after the purchase; 0 makes them spendable at once."
        ),
    )
    expiry_months = models.PositiveIntegerField(
        _("points expire after, months"),
        default=24,
        help_text=_("Counted from the purchase; 0: points never expire."),
    )
    tier_window_months = models.PositiveIntegerField(
        _("tier window, months"),
        default=12,
        help_text=_("Tiers are decided by the qualifying spend over this rolling window."),
    )
    downgrade_grace_days = models.PositiveIntegerField(
        _("downgrade grace, days"),
        default=30,
        help_text=_(
            "A tier is kept for one window after it is reached; a customer who no longer qualifies "
            "then has this many days to re-qualify before moving down."
        ),
    )
    point_value = models.DecimalField(
        _("money value of a point"),
        max_digits=POINTS_RATE_DIGITS,
        decimal_places=POINTS_RATE_PLACES,
        default=Decimal("1"),
        help_text=_("Used for the outstanding liability report."),
    )
    currency = models.CharField(_("currency"), max_length=3, default=default_currency)
    purchase_confirmations = models.BooleanField(
        _("purchase confirmations"),
        default=True,
        help_text=_(
            "After a recent purchase, tell the customer the points earned, the balance, the way to "
            "the next tier and a reward within reach (within the contact caps and consent)."
        ),
    )
    expiry_warning_days = models.PositiveIntegerField(
        _("warn before expiry, days"),
        default=30,
        help_text=_("Warn customers this many days before their points expire; 0: no warnings."),
    )
    balance_reminders = models.BooleanField(
        _("monthly balance reminders"),
        default=True,
        help_text=_("Remind customers with points of their balance once a month."),
    )
    member_link_days = models.PositiveIntegerField(
        _("member page links valid, days"),
        default=90,
        help_text=_("How long the member-page link in a message keeps working."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programme")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="loyalty_programme_singleton"),
            models.CheckConstraint(
                condition=Q(points_per_unit__gt=0), name="loyalty_programme_rate_positive"
            ),
            models.CheckConstraint(
                condition=Q(minimum_purchase__gte=0), name="loyalty_programme_minimum_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(tier_window_months__gte=1), name="loyalty_programme_window_positive"
            ),
            models.CheckConstraint(
                condition=Q(point_value__gte=0), name="loyalty_programme_point_value_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(member_link_days__gte=1), name="loyalty_programme_link_days_positive"
            ),
        ]

    def __str__(self) -> str:
        return str(self.name)

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "Programme":
        """The programme row, created with the documented defaults if it is missing."""
        programme, _created = cls.objects.get_or_create(pk=1)
        return programme

    def clean(self) -> None:
        super().clean()
        for field, codes in (
            ("qualifying_currencies", self.currency_codes),
            ("qualifying_sources", self.source_codes),
        ):
            if any(not code.isalpha() for code in codes):
                raise ValidationError({field: _("Use letters separated by commas.")})
        self.qualifying_currencies = ",".join(sorted(code.upper() for code in self.currency_codes))
        self.qualifying_sources = ",".join(sorted(code.lower() for code in self.source_codes))

    @property
    def currency_codes(self) -> frozenset[str]:
        return frozenset(code.upper() for code in _codes(self.qualifying_currencies))

    @property
    def source_codes(self) -> frozenset[str]:
        return frozenset(code.lower() for code in _codes(self.qualifying_sources))

    def qualifying_purchases_q(self, prefix: str = "") -> Q:
        """A filter on Purchase (or on a relation to it, via `prefix`) for purchases that count."""
        condition = Q(**{f"{prefix}amount__gte": self.minimum_purchase})
        if self.currency_codes:
            condition &= Q(**{f"{prefix}currency__in": sorted(self.currency_codes)})
        if self.source_codes:
            condition &= Q(**{f"{prefix}source__in": sorted(self.source_codes)})
        return condition

    def qualifies(self, *, amount: Decimal, currency: str, source: str) -> bool:
        return (
            amount >= self.minimum_purchase
            and (not self.currency_codes or currency.upper() in self.currency_codes)
            and (not self.source_codes or source.lower() in self.source_codes)
        )

    def points_for(
        self, amount: Decimal, *, rate: Decimal, multiplier: Decimal = Decimal(1)
    ) -> int:
        """Whole points for `amount` at `rate` points per unit and a tier multiplier, rounded as set."""
        rounding = ROUND_HALF_UP if self.rounding == self.Rounding.HALF_UP else ROUND_DOWN
        return int((amount * rate * multiplier).quantize(Decimal(1), rounding=rounding))

    def expiry_for(self, earned_at: datetime) -> datetime | None:
        """When points earned at `earned_at` expire under today's rule (None: never)."""
        if not self.expiry_months:
            return None
        try:
            return add_months(earned_at, self.expiry_months)
        except (ValueError, OverflowError):
            # Beyond the calendar's end (a purchase dated in year 9999): it never comes.
            return None

    def available_from(self, purchased_at: datetime) -> datetime:
        """When a purchase's points become spendable: once its return window has closed."""
        try:
            return purchased_at + timedelta(days=self.return_window_days)
        except OverflowError:
            return purchased_at


class Tier(models.Model):
    """A level of the programme; a customer holds the highest tier their rolling spend reaches."""

    name = models.CharField(_("name"), max_length=60)
    order = models.PositiveSmallIntegerField(
        _("order"), help_text=_("Higher numbers are higher tiers.")
    )
    qualifying_spend = models.DecimalField(
        _("qualifying spend"),
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        help_text=_("Net purchases over the tier window needed to reach this tier."),
    )
    earn_multiplier = models.DecimalField(
        _("earn multiplier"), max_digits=5, decimal_places=2, default=Decimal("1.00")
    )
    discount_percent = models.DecimalField(
        _("discount, %"), max_digits=5, decimal_places=2, default=Decimal("0")
    )
    perks = models.TextField(_("perks"), blank=True)

    class Meta:
        ordering = ["order"]
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        constraints = [
            models.UniqueConstraint(fields=["name"], name="loyalty_tier_name_unique"),
            models.UniqueConstraint(fields=["order"], name="loyalty_tier_order_unique"),
            models.CheckConstraint(
                condition=Q(qualifying_spend__gte=0), name="loyalty_tier_spend_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(earn_multiplier__gt=0), name="loyalty_tier_multiplier_positive"
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0) & Q(discount_percent__lte=100),
                name="loyalty_tier_discount_percent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.order is None or self.qualifying_spend is None:
            return
        others = Tier.objects.exclude(pk=self.pk)
        if others.filter(
            order__lt=self.order, qualifying_spend__gte=self.qualifying_spend
        ).exists():
            raise ValidationError(
                {
                    "qualifying_spend": _(
                        "A higher tier must need more spend than the tiers below it."
                    )
                }
            )
        if others.filter(
            order__gt=self.order, qualifying_spend__lte=self.qualifying_spend
        ).exists():
            raise ValidationError(
                {
                    "qualifying_spend": _(
                        "A lower tier must need less spend than the tiers above it."
                    )
                }
            )


class Partner(models.Model):
    """A business outside the shop (hotel, car rental, ...) whose customers earn points here."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    earn_rate = models.DecimalField(
        _("points per currency unit"),
        max_digits=POINTS_RATE_DIGITS,
        decimal_places=POINTS_RATE_PLACES,
        help_text=_("Partner points get no tier multiplier."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        constraints = [
            models.CheckConstraint(
                condition=Q(earn_rate__gt=0), name="loyalty_partner_rate_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Reward(models.Model):
    class Kind(models.TextChoices):
        VOUCHER = "voucher", _("Discount voucher")
        GIFT = "gift", _("Gift")
        REBATE = "rebate", _("Rebate")

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.VOUCHER)
    cost = models.PositiveIntegerField(_("cost in points"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = RewardQuerySet.as_manager()

    class Meta:
        ordering = ["cost", "name"]
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            models.CheckConstraint(condition=Q(cost__gt=0), name="loyalty_reward_cost_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class LoyaltyAccount(models.Model):
    """A customer's spendable balance and tier; the balance is the sum of the customer's entries."""

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="loyalty_account",
    )
    balance = models.IntegerField(_("balance"), default=0)
    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accounts",
    )
    tier_since = models.DateTimeField(_("in tier since"), null=True, blank=True)
    tier_valid_until = models.DateTimeField(
        _("tier kept at least until"),
        null=True,
        blank=True,
        help_text=_("After this (plus the grace period) the tier follows the rolling spend down."),
    )
    qualifying_spend = models.DecimalField(
        _("qualifying spend"),
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        default=Decimal("0"),
        help_text=_("Net spend over the tier window when last computed."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["customer_id"]
        verbose_name = _("loyalty account")
        verbose_name_plural = _("loyalty accounts")
        permissions = [
            ("redeem_rewards", _("Can redeem rewards for the customers they can see")),
            ("cancel_redemptions", _("Can cancel redemptions and restore the points")),
            ("report_loyalty", _("Can see the loyalty reports")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="loyalty_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Points of customer %(id)s") % {"id": self.customer_id})


class PurchasePoints(models.Model):
    """What one purchase earned, fixed when it was accrued; refunds reverse a share of these points."""

    purchase = models.OneToOneField(
        "customers.Purchase",
        verbose_name=_("purchase"),
        on_delete=models.PROTECT,
        related_name="loyalty_points",
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="+"
    )
    points = models.PositiveIntegerField(_("points"))
    amount = models.DecimalField(
        _("purchase amount"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES
    )
    rate = models.DecimalField(
        _("points per unit"), max_digits=POINTS_RATE_DIGITS, decimal_places=POINTS_RATE_PLACES
    )
    multiplier = models.DecimalField(_("tier multiplier"), max_digits=5, decimal_places=2)
    tier_name = models.CharField(_("tier"), max_length=60, blank=True)
    available_at = models.DateTimeField(_("spendable from"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    released_at = models.DateTimeField(
        _("entered the ledger"), null=True, blank=True, help_text=_("Empty while pending.")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("points of a purchase")
        verbose_name_plural = _("points of purchases")
        indexes = [
            models.Index(
                fields=["available_at"],
                condition=Q(released_at__isnull=True),
                name="loyalty_pending_points_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gt=0), name="loyalty_purchase_points_positive"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="loyalty_purchase_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_id}: {self.points}"


class Redemption(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        CANCELLED = "cancelled", _("Cancelled")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="redemptions",
    )
    reward = models.ForeignKey(
        Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="redemptions"
    )
    points = models.PositiveIntegerField(_("points"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ISSUED
    )
    code = models.CharField(_("voucher code"), max_length=20, unique=True, null=True, blank=True)
    key = models.CharField(_("request key"), max_length=CALLER_KEY_LENGTH, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("issued"), default=timezone.now)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cancelled by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        indexes = [
            models.Index(fields=["customer", "created_at"], name="loyalty_redemption_cust_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gt=0), name="loyalty_redemption_points_positive"
            ),
            models.CheckConstraint(
                condition=Q(status="issued", cancelled_at__isnull=True)
                | Q(status="cancelled", cancelled_at__isnull=False),
                name="loyalty_redemption_cancelled_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reward} ({self.points})"


class LedgerEntry(models.Model):
    """One movement of points. Never updated or deleted: a correction is a new, reversing entry."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        PARTNER_EARN = "partner_earn", _("Earned with a partner")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")
        REVERSE = "reverse", _("Reversed")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    points = models.IntegerField(_("points"))
    shortfall = models.PositiveIntegerField(
        _("not reversed"),
        default=0,
        help_text=_("Points a reversal could not take back because they had already been spent."),
    )
    key = models.CharField(_("idempotency key"), max_length=ENTRY_KEY_LENGTH, unique=True)
    purchase = models.ForeignKey(
        "customers.Purchase",
        verbose_name=_("purchase"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    refund = models.ForeignKey(
        "customers.Refund",
        verbose_name=_("refund"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    redemption = models.ForeignKey(
        Redemption,
        verbose_name=_("redemption"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [
            models.Index(fields=["customer", "created_at"], name="loyalty_entry_customer_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["earn", "partner_earn"], points__gt=0)
                | Q(kind__in=["redeem", "expire"], points__lt=0)
                | (Q(kind="adjust") & ~Q(points=0))
                | Q(kind="reverse"),
                name="loyalty_entry_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(shortfall=0) | Q(kind="reverse"),
                name="loyalty_entry_shortfall_only_on_reversal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise LedgerIsAppendOnlyError
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerIsAppendOnlyError


class TierChange(models.Model):
    """A customer moved between tiers (upgrades at once, downgrades at re-evaluation)."""

    class Direction(models.TextChoices):
        UP = "up", _("Upgrade")
        DOWN = "down", _("Downgrade")

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="+"
    )
    direction = models.CharField(_("direction"), max_length=4, choices=Direction.choices)
    from_tier = models.ForeignKey(
        Tier,
        verbose_name=_("from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    to_tier = models.ForeignKey(
        Tier,
        verbose_name=_("to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Names as they were, so history reads right after a tier is renamed or deleted.
    from_name = models.CharField(_("from tier"), max_length=60, blank=True)
    to_name = models.CharField(_("to tier"), max_length=60, blank=True)
    qualifying_spend = models.DecimalField(
        _("qualifying spend"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")

    def __str__(self) -> str:
        return f"{self.from_name or '—'} → {self.to_name or '—'}"


class MemberAccess(models.Model):
    """The version of a customer's member-page links: raising it revokes every link sent so far.

    Links carry the version they were made with (see `loyalty.member`); a customer without a row
    is at version 0, so a row is only written when a link is first revoked.
    """

    customer = models.OneToOneField(
        "customers.Customer",
        primary_key=True,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="loyalty_member_access",
    )
    version = models.PositiveIntegerField(_("link version"), default=0)
    revoked_at = models.DateTimeField(_("links last revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("member page access")
        verbose_name_plural = _("member page access")

    def __str__(self) -> str:
        return str(_("Member page links of customer %(id)s") % {"id": self.customer_id})


class LoyaltyMessage(models.Model):
    """One message the programme decided to send a customer, once per kind and cause.

    The unique (customer, kind, cause) row is written with its outcome (the outbox message, or the
    reason contacts refused it), so a re-run of the night or a repeated purchase signal never sends
    the same message twice. A refused message is not retried for the same cause.
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("Purchase confirmation")
        EXPIRY = "expiry", _("Expiry warning")
        BALANCE = "balance", _("Balance reminder")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="loyalty_messages",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # purchase:<id> for a confirmation, the expiry date for a warning, the month for a reminder.
    cause = models.CharField(_("cause"), max_length=40)
    message = models.ForeignKey(
        "contacts.OutboxMessage",
        verbose_name=_("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    refused = models.CharField(_("not sent because"), max_length=20, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("loyalty message")
        verbose_name_plural = _("loyalty messages")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "cause"], name="loyalty_message_once_per_cause"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.cause}"


class PendingAccrual(models.Model):
    """A purchase recorded in a large batch whose points a worker has yet to accrue.

    Written in the transaction that records the purchases, so a purchase is never left behind:
    if the worker is down or the hand-off is lost, the sweeper finds the row (see
    `loyalty.services.backlog`). Deleted in the transaction that accrues the purchase.
    """

    purchase = models.OneToOneField(
        "customers.Purchase",
        primary_key=True,
        verbose_name=_("purchase"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        ordering = ["purchase_id"]
        verbose_name = _("purchase awaiting accrual")
        verbose_name_plural = _("purchases awaiting accrual")

    def __str__(self) -> str:
        return str(self.purchase_id)
