"""Customers, their purchases and refunds, and the import jobs that bring them in."""

import uuid
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.caching import Generation

from .querysets import CustomerQuerySet, PurchaseQuerySet

MONEY_DIGITS = 14
MONEY_PLACES = 2

def default_currency() -> str:
    return settings.DEFAULT_CURRENCY


TIME_ZONE_CHOICES = sorted((name, name) for name in zoneinfo.available_timezones())


# Renewed by every save or deletion of a tag (customers.apps): the filter bars' tag options
# (customers.selectors.kept_tags).
TAGS = Generation("customer-tags", ttl=3600)
# Renewed by every refresh of the monthly metrics and cohorts (customers.analytics), their only
# writer: the dashboard's trend and cohort table are kept until the next refresh.
BASE_METRICS = Generation("base-metrics", ttl=24 * 3600)


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=60, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    class Kind(models.TextChoices):
        COMPANY = "company", _("Company")
        PERSON = "person", _("Person")

    class Stage(models.TextChoices):
        ONE_OFF = "one_off", _("One-off")
        REGULAR = "regular", _("Regular")
        PARTNER = "partner", _("Partner")

    class Language(models.TextChoices):
        EN = "en", _("English")
        RU = "ru", _("Russian")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    language = models.CharField(
        _("preferred language"), max_length=5, choices=Language.choices, default=Language.RU
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="Europe/Moscow"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner rep"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    backup = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("backup rep"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="backed_up_customers",
    )
    stage = models.CharField(
        _("relationship stage"), max_length=10, choices=Stage.choices, default=Stage.ONE_OFF
    )
    # Consent per channel: no consent, no contact. Service messages (receipts) are exempt.
    consent_email = models.BooleanField(_("e-mail consent"), default=False)
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_phone = models.BooleanField(_("phone consent"), default=True)
    consent_social = models.BooleanField(_("social consent"), default=False)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    notes = models.TextField(_("notes"), blank=True)
    external_id = models.CharField(
        _("external id"),
        max_length=100,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The customer's id in the accounting system; imports match on it."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("view_all_customers", _("Can see every customer, not only covered ones")),
            ("export_customers", _("Can export customer lists")),
            ("reassign_customers", _("Can reassign customers between reps")),
            ("import_data", _("Can import customers and purchases")),
        ]
        indexes = [
            models.Index(fields=["owner"], name="customer_owner_idx"),
            models.Index(fields=["backup"], name="customer_backup_idx"),
            # The customer list opens sorted by name, 50 at a time: read in index order instead
            # of sorting the whole base for every page.
            models.Index(fields=["name", "id"], name="customer_name_idx"),
            # The search box's exact external-id match (iexact). Its partial matches on name,
            # e-mail and phone use trigram indexes that migration 0005 adds on PostgreSQL only.
            models.Index(Upper("external_id"), name="customer_external_id_upper_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(owner=models.F("backup")) | Q(owner__isnull=True),
                name="customer_backup_differs_from_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("customers:detail", args=[self.pk])

    def has_consent(self, channel: str) -> bool:
        """Whether the customer agreed to be contacted on `channel` (in person needs no consent)."""
        return channel == "in_person" or bool(getattr(self, f"consent_{channel}", False))


class Purchase(models.Model):
    class Source(models.TextChoices):
        IMPORT = "import", _("Import")
        API = "api", _("API")
        UI = "ui", _("Entered by hand")
        DEMO = "demo", _("Demo data")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="purchases"
    )
    occurred_at = models.DateTimeField(_("time"))
    amount = models.DecimalField(_("amount"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(_("currency"), max_length=3, default=default_currency)
    # The source system's id: the same purchase arriving twice (import, API retry) is stored once.
    external_id = models.CharField(_("external id"), max_length=100, unique=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)

    objects = PurchaseQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        indexes = [models.Index(fields=["customer", "occurred_at"], name="purchase_customer_time_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="purchase_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.amount} {self.currency}"

    @staticmethod
    def new_external_id() -> str:
        return f"ui-{uuid.uuid4().hex}"


class Refund(models.Model):
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="refunds"
    )
    amount = models.DecimalField(_("amount"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    external_id = models.CharField(_("external id"), max_length=100, unique=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} -{self.amount}"


class ImportJob(models.Model):
    """One upload of a customers or purchases file, moved forward by a task."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        PURCHASES = "purchases", _("Purchases")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("already present"), default=0)
    error_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    error_report = models.FileField(_("error report"), upload_to="imports/errors/", blank=True)
    failure = models.TextField(_("failure"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.original_name}"

    def get_absolute_url(self) -> str:
        return reverse("customers:import-detail", args=[self.pk])

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))



class ScoringSettings(models.Model):
    """The knobs of segmentation, one row, edited by admins; the scoring reads them at run time."""

    horizon_days = models.PositiveIntegerField(
        _("risk horizon (days)"),
        default=90,
        help_text=_("Risk is the probability of buying at least once within this many days."),
    )
    abc_a_share = models.DecimalField(
        _("class A: top share of revenue"), max_digits=4, decimal_places=3, default=Decimal("0.800")
    )
    abc_b_share = models.DecimalField(
        _("class B: next share of revenue (cumulative)"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.950"),
    )
    high_risk_below = models.DecimalField(
        _("high risk below probability"), max_digits=4, decimal_places=3, default=Decimal("0.300")
    )
    medium_risk_below = models.DecimalField(
        _("medium risk below probability"), max_digits=4, decimal_places=3, default=Decimal("0.600")
    )
    dormant_min_purchase_days = models.PositiveIntegerField(
        _("dormant: minimum purchase days"),
        default=3,
        help_text=_("Only customers who bought on at least this many days can become dormant."),
    )
    dormant_threshold = models.DecimalField(
        _("dormant below probability"), max_digits=4, decimal_places=3, default=Decimal("0.200")
    )
    auto_tune_dormant = models.BooleanField(
        _("tune the dormant threshold from the last backtest"), default=True
    )
    fallback_days = models.PositiveIntegerField(
        _("fixed rule: no purchase for N days"),
        default=90,
        help_text=_("Used when the model cannot be fitted or lost to this rule in the last backtest."),
    )
    rule_in_force = models.CharField(
        _("dormant rule in force"), max_length=10, default="model", editable=False
    )
    rule_reason = models.TextField(_("why this rule"), blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("scoring settings")
        verbose_name_plural = _("scoring settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(abc_a_share__gt=0)
                & Q(abc_a_share__lt=models.F("abc_b_share"))
                & Q(abc_b_share__lte=1),
                name="scoring_abc_shares_ordered",
            ),
            models.CheckConstraint(
                condition=Q(high_risk_below__gte=0)
                & Q(high_risk_below__lte=models.F("medium_risk_below"))
                & Q(medium_risk_below__lte=1),
                name="scoring_risk_thresholds_ordered",
            ),
            models.CheckConstraint(condition=Q(horizon_days__gt=0), name="scoring_horizon_positive"),
        ]

    def __str__(self) -> str:
        return str(_("Scoring settings"))

    @classmethod
    def load(cls) -> "ScoringSettings":
        settings_row, _created = cls.objects.get_or_create(pk=1)
        return settings_row


class ValueClass(models.TextChoices):
    A = "A", _("A: top revenue")
    B = "B", _("B: middle")
    C = "C", _("C: the rest")
    NONE = "-", _("No revenue in 12 months")


class RiskLevel(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class RfmSegment(models.TextChoices):
    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALIST = "potential_loyalist", _("Potential loyalist")
    NEW = "new", _("New")
    PROMISING = "promising", _("Promising")
    NEED_ATTENTION = "need_attention", _("Need attention")
    ABOUT_TO_SLEEP = "about_to_sleep", _("About to sleep")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose them")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")
    NO_PURCHASES = "none", _("No purchases")


class CustomerScore(models.Model):
    """The current segmentation of one customer, rewritten by each scoring run."""

    class Method(models.TextChoices):
        MODEL = "model", _("BG/NBD model")
        RULE = "rule", _("Days since last purchase")

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="score"
    )
    as_of = models.DateField(_("as of"))
    # Features as of `as_of`.
    first_purchase_at = models.DateField(_("first purchase"), null=True)
    last_purchase_at = models.DateField(_("last purchase"), null=True)
    purchase_days = models.PositiveIntegerField(_("purchase days"), default=0)
    frequency = models.PositiveIntegerField(_("repeat purchase days"), default=0)
    recency_days = models.PositiveIntegerField(_("recency (days)"), default=0)
    age_days = models.PositiveIntegerField(_("age (days)"), default=0)
    days_since_last = models.PositiveIntegerField(_("days since last purchase"), null=True)
    median_gap_days = models.FloatField(_("median days between purchases"), null=True)
    revenue_total = models.DecimalField(
        _("revenue, total"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0
    )
    revenue_12m = models.DecimalField(
        _("revenue, 12 months"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0
    )
    average_order_value = models.DecimalField(
        _("average order value"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0
    )
    # Value.
    value_share = models.FloatField(_("share of 12-month revenue"), default=0)
    value_class = models.CharField(
        _("value class"), max_length=1, choices=ValueClass.choices, default=ValueClass.NONE
    )
    # Risk.
    method = models.CharField(_("method"), max_length=5, choices=Method.choices)
    p_alive = models.FloatField(_("P(alive)"), null=True)
    expected_purchases = models.FloatField(_("expected purchases in horizon"), null=True)
    p_purchase = models.FloatField(_("probability of buying in horizon"), null=True)
    expected_spend = models.DecimalField(
        _("expected spend per purchase"),
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        null=True,
    )
    clv_12m = models.DecimalField(
        _("12-month CLV"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True
    )
    revenue_at_risk = models.DecimalField(
        _("revenue at risk"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0
    )
    risk_level = models.CharField(_("risk"), max_length=6, choices=RiskLevel.choices)
    dormant = models.BooleanField(_("dormant"), default=False)
    # RFM.
    rfm_r = models.PositiveSmallIntegerField(_("R"), default=0)
    rfm_f = models.PositiveSmallIntegerField(_("F"), default=0)
    rfm_m = models.PositiveSmallIntegerField(_("M"), default=0)
    rfm_segment = models.CharField(
        _("RFM segment"), max_length=20, choices=RfmSegment.choices, default=RfmSegment.NO_PURCHASES
    )
    suggested_stage = models.CharField(
        _("suggested stage"), max_length=10, choices=Customer.Stage.choices, blank=True
    )
    horizon_days = models.PositiveSmallIntegerField(_("risk horizon (days)"), default=90)
    scored_at = models.DateTimeField(_("scored"), default=timezone.now)

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        indexes = [
            models.Index(fields=["value_class", "risk_level"], name="score_value_risk_idx"),
            models.Index(fields=["dormant"], name="score_dormant_idx"),
            models.Index(fields=["rfm_segment"], name="score_rfm_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.value_class}/{self.risk_level}"

    @property
    def explanation(self) -> str:
        """A sentence a rep can read: "Buys about every 21 days; last purchase 64 days ago; ..."."""
        if not self.purchase_days:
            return str(_("No purchases yet."))
        if self.median_gap_days is not None:
            parts = [_("buys about every %(days)s days") % {"days": round(self.median_gap_days)}]
        else:
            parts = [str(_("bought once"))]
        parts.append(_("last purchase %(days)s days ago") % {"days": self.days_since_last})
        if self.method == self.Method.MODEL and self.p_alive is not None:
            parts.append(_("P(alive) %(p).2f") % {"p": self.p_alive})
            parts.append(
                _("%(percent)s%% chance of buying within %(horizon)s days")
                % {"percent": round(100 * (self.p_purchase or 0)), "horizon": self.horizon_days}
            )
        else:
            parts.append(str(_("scored by the days-since-last-purchase rule")))
        text = "; ".join(str(part) for part in parts)
        return text[:1].upper() + text[1:] + "."


class ScoreTransition(models.Model):
    """A customer moved between segments: the dashboard's "who moved where and when"."""

    class Dimension(models.TextChoices):
        VALUE = "value", _("Value class")
        RISK = "risk", _("Risk")
        SEGMENT = "segment", _("RFM segment")
        DORMANT = "dormant", _("Dormant")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="score_transitions"
    )
    as_of = models.DateField(_("date"))
    dimension = models.CharField(_("what"), max_length=8, choices=Dimension.choices)
    from_value = models.CharField(_("from"), max_length=20, blank=True)
    to_value = models.CharField(_("to"), max_length=20)

    class Meta:
        ordering = ["-as_of", "customer_id"]
        verbose_name = _("score transition")
        verbose_name_plural = _("score transitions")
        constraints = [
            # A re-run for the same date records each move once.
            models.UniqueConstraint(
                fields=["customer", "as_of", "dimension"], name="score_transition_once_per_day"
            ),
        ]
        indexes = [models.Index(fields=["as_of", "dimension", "to_value"], name="transition_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.dimension}: {self.from_value} -> {self.to_value}"


class ScoringRun(models.Model):
    """One scoring of the whole base: the fitted parameters, the counts and the backtest."""

    as_of = models.DateField(_("as of"))
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True)
    customers = models.PositiveIntegerField(_("customers"), default=0)
    method = models.CharField(_("method"), max_length=5, choices=CustomerScore.Method.choices)
    fallback_reason = models.TextField(_("why the fixed rule was used"), blank=True)
    bgnbd = models.JSONField(_("BG/NBD parameters"), null=True)
    gamma_gamma = models.JSONField(_("Gamma-Gamma parameters"), null=True)
    dormant_rule = models.CharField(_("dormant rule"), max_length=40, blank=True)
    summary = models.JSONField(_("summary"), default=dict)
    # The fitted model and base-wide cut-offs that each chunk of customers is scored with.
    fitted = models.JSONField(_("fitted model"), null=True, blank=True)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    backtest = models.JSONField(_("backtest"), null=True, blank=True)
    backtest_until = models.DateField(_("backtest until"), null=True, blank=True)
    seconds = models.FloatField(_("seconds"), null=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        verbose_name = _("scoring run")
        verbose_name_plural = _("scoring runs")

    def __str__(self) -> str:
        return f"{self.as_of} ({self.method})"


class MonthlyMetric(models.Model):
    """Retention figures of one calendar month for the whole base or one rep's accounts.

    Active at the end of a month = bought in that month or the eleven before it. CRR (DOMAIN.md)
    = (E - N) / S: S active at the start (end of the previous month), E active at the end, N new
    customers (first purchase in the month).
    """

    scope = models.CharField(_("scope"), max_length=30, help_text=_('"all" or "rep:<id>"'))
    month = models.DateField(_("month"))
    active_start = models.PositiveIntegerField(_("active at start (S)"), default=0)
    active_end = models.PositiveIntegerField(_("active at end (E)"), default=0)
    new_customers = models.PositiveIntegerField(_("new customers (N)"), default=0)
    buyers = models.PositiveIntegerField(_("customers who bought"), default=0)
    purchases = models.PositiveIntegerField(_("purchases"), default=0)
    revenue = models.DecimalField(
        _("revenue"), max_digits=MONEY_DIGITS + 2, decimal_places=MONEY_PLACES, default=0
    )
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        ordering = ["scope", "month"]
        verbose_name = _("monthly metric")
        verbose_name_plural = _("monthly metrics")
        constraints = [
            models.UniqueConstraint(fields=["scope", "month"], name="monthly_metric_once"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.month:%Y-%m}"

    @property
    def retention_rate(self) -> float | None:
        """CRR = (E - N) / S, None when nobody was active at the start."""
        if not self.active_start:
            return None
        return (self.active_end - self.new_customers) / self.active_start


class CohortCell(models.Model):
    """How many customers of a first-purchase month bought again `months_since` months later."""

    scope = models.CharField(_("scope"), max_length=30)
    cohort = models.DateField(_("cohort (month of first purchase)"))
    months_since = models.PositiveSmallIntegerField(_("months since first purchase"))
    cohort_size = models.PositiveIntegerField(_("customers in cohort"))
    active = models.PositiveIntegerField(_("customers who bought that month"))

    class Meta:
        ordering = ["scope", "cohort", "months_since"]
        verbose_name = _("cohort cell")
        verbose_name_plural = _("cohort cells")
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "cohort", "months_since"], name="cohort_cell_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.cohort:%Y-%m} +{self.months_since}"
