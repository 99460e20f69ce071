"""Contacts: channels and caps, consent, preferences, the contact log, the outbox, call lists,
contact plans and feedback.

Every touch a customer gets (a rep's call, e-mail or meeting, an automated message) is a `Touch` row,
and frequency caps count all of them: a marketing tool that caps only its own sends is how customers
still get flooded. A touch that consent, a pause or a cap stopped is a `RefusedTouch`, never dropped
silently.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    PHONE = "phone", _("Phone")
    SOCIAL = "social", _("Social")
    IN_PERSON = "in_person", _("In person")


# Channels the customer can give or withdraw consent for (Customer.consent_<channel>); a meeting in
# person is arranged with the customer, so it needs no separate consent.
CONSENT_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.PHONE, Channel.SOCIAL)


class Kind(models.TextChoices):
    ADVERTISING = "advertising", _("Advertising")
    CONTENT = "content", _("Useful content with advertising")
    PERSONAL = "personal", _("Personal contact by the rep")
    # Receipts, order confirmations: exempt from caps, consent, pauses and quiet hours.
    SERVICE = "service", _("Service message")


class CapRule(models.Model):
    """At most `max_count` touches on `channel` within any `period_days` around a touch of `kind`.

    Every touch on the channel counts (automated or by a rep, any kind but service messages);
    the rule of the kind being booked decides the limit. No `max_count` means no limit.
    """

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    max_count = models.PositiveSmallIntegerField(
        _("at most"), null=True, blank=True, help_text=_("Leave empty for no limit.")
    )
    period_days = models.PositiveSmallIntegerField(_("per days"), default=30)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["channel", "kind"]
        verbose_name = _("frequency cap")
        verbose_name_plural = _("frequency caps")
        constraints = [
            models.UniqueConstraint(fields=["channel", "kind"], name="cap_rule_once_per_kind"),
            models.CheckConstraint(condition=~Q(kind="service"), name="cap_rule_not_for_service"),
            models.CheckConstraint(condition=Q(period_days__gt=0), name="cap_rule_period_positive"),
            models.CheckConstraint(
                condition=Q(max_count__isnull=True) | Q(max_count__gt=0),
                name="cap_rule_count_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} / {self.get_kind_display()}: {self.describe()}"

    def describe(self) -> str:
        if self.max_count is None:
            return str(_("no limit"))
        return str(
            _("at most %(count)s per %(days)s days")
            % {"count": self.max_count, "days": self.period_days}
        )


class CapOverride(models.Model):
    """A customer's own cap on a channel ("phone weekly, as agreed with the client").

    An empty kind applies to every kind on the channel; a kind-specific override wins over it.
    """

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="cap_overrides",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    kind = models.CharField(
        _("kind"),
        max_length=12,
        choices=Kind.choices,
        blank=True,
        help_text=_("Leave empty for every kind on this channel."),
    )
    max_count = models.PositiveSmallIntegerField(
        _("at most"), null=True, blank=True, help_text=_("Leave empty for no limit.")
    )
    period_days = models.PositiveSmallIntegerField(_("per days"), default=7)
    note = models.CharField(_("as agreed"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["customer_id", "channel", "kind"]
        verbose_name = _("cap override")
        verbose_name_plural = _("cap overrides")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "channel", "kind"], name="cap_override_once_per_kind"
            ),
            models.CheckConstraint(condition=~Q(kind="service"), name="cap_override_not_service"),
            models.CheckConstraint(
                condition=Q(period_days__gt=0), name="cap_override_period_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_count__isnull=True) | Q(max_count__gt=0),
                name="cap_override_count_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel}/{self.kind or '*'}"


class ContactPreferences(models.Model):
    """How and when one customer wants to be contacted; its row is also the customer's booking lock.

    Every booking for a customer locks this row first (select_for_update), so two workers or two
    reps booking the last free slot at once are serialised: one books, the other is refused.
    """

    customer = models.OneToOneField(
        "customers.Customer",
        primary_key=True,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="contact_preferences",
    )
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=10, choices=Channel.choices, blank=True
    )
    paused_until = models.DateField(
        _("do not contact until"),
        null=True,
        blank=True,
        help_text=_(
            "No contact before this day (the customer's local date); contact resumes on it."
        ),
    )
    pause_reason = models.CharField(_("why paused"), max_length=200, blank=True)
    contact_from = models.TimeField(
        _("contact from"),
        null=True,
        blank=True,
        help_text=_("Local time; empty uses the company default."),
    )
    contact_until = models.TimeField(
        _("contact until"),
        null=True,
        blank=True,
        help_text=_("Local time; empty uses the company default."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("contact preferences")
        verbose_name_plural = _("contact preferences")
        constraints = [
            models.CheckConstraint(
                condition=(Q(contact_from__isnull=True) & Q(contact_until__isnull=True))
                | (
                    Q(contact_from__isnull=False)
                    & Q(contact_until__isnull=False)
                    & Q(contact_from__lt=models.F("contact_until"))
                ),
                name="preferences_contact_hours_ordered",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Contact preferences of %(customer)s") % {"customer": self.customer_id})


class ConsentChange(models.Model):
    """One change of a customer's consent on a channel, with where it came from. Never edited."""

    class Source(models.TextChoices):
        REP = "rep", _("Recorded by a rep")
        CUSTOMER_FORM = "form", _("Customer form")
        UNSUBSCRIBE_LINK = "unsubscribe", _("Unsubscribe link")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        ADMIN = "admin", _("Administration")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="consent_changes",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    granted = models.BooleanField(_("consent given"))
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")
        indexes = [
            models.Index(fields=["customer", "created_at"], name="consent_customer_time_idx")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel}={self.granted} ({self.source})"


class LeaveReason(models.TextChoices):
    PRICE = "price", _("Price")
    SERVICE_QUALITY = "service", _("Service quality")
    COMPETITOR = "competitor", _("Competitor offer")
    REP_CONFLICT = "rep_conflict", _("Conflict with the rep")
    NO_NEED = "no_need", _("No longer needs it")
    OTHER = "other", _("Other")


class Outcome(models.TextChoices):
    REACHED = "reached", _("Reached")
    NO_ANSWER = "no_answer", _("No answer")
    CALLBACK = "callback", _("Call back at")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    DECLINED = "declined", _("Declined")


class Touch(models.Model):
    """One contact with a customer, planned or made; the rows every frequency cap counts.

    A booking is a `planned` touch at its time; a sent message or a logged call is `done`; a
    withdrawn booking (consent withdrawn, message failed for good) is `cancelled` and stops counting.
    """

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Source(models.TextChoices):
        REP = "rep", _("Rep")
        PLANNER = "planner", _("Contact plan")
        OUTBOX = "outbox", _("Message")
        FEEDBACK = "feedback", _("Feedback survey")
        SYSTEM = "system", _("System")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="touches",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PLANNED
    )
    at = models.DateTimeField(_("time"))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    # Whoever books the same contact twice (a retried task, a re-run planner) gets the first row.
    key = models.CharField(_("idempotency key"), max_length=200, unique=True, null=True, blank=True)
    plan = models.ForeignKey(
        "contacts.ContactPlan",
        verbose_name=_("plan"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="touches",
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contact_touches",
    )
    outcome = models.CharField(_("outcome"), max_length=14, choices=Outcome.choices, blank=True)
    leave_reason = models.CharField(
        _("reason for leaving"), max_length=14, choices=LeaveReason.choices, blank=True
    )
    callback_at = models.DateTimeField(_("call back at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Whether the customer was dormant when contacted: win-backs are counted from these touches.
    was_dormant = models.BooleanField(_("dormant at the time"), default=False)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("touch")
        verbose_name_plural = _("touches (contact log)")
        permissions = [
            (
                "manage_team_contacts",
                _("Can see every rep's call list, the key-account watch and rep performance"),
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "channel", "at"], name="touch_customer_channel_idx"),
            models.Index(
                fields=["customer", "kind", "status", "at"], name="touch_customer_kind_idx"
            ),
            models.Index(fields=["by", "at"], name="touch_by_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="callback", callback_at__isnull=False) | ~Q(outcome="callback"),
                name="touch_callback_has_time",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.customer_id} {self.channel}/{self.kind} {self.status} {self.at:%Y-%m-%d %H:%M}"
        )


class RefusedTouch(models.Model):
    """A contact that consent, a pause or a cap stopped, with the reason, shown on the customer page."""

    class Reason(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent")
        PAUSED = "paused", _("Paused")
        CAP = "cap", _("Frequency cap")
        NO_ADDRESS = "no_address", _("No address")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="refused_touches",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    reason = models.CharField(_("reason"), max_length=12, choices=Reason.choices)
    requested_for = models.DateTimeField(_("wanted for"))
    # The touch that filled the cap, and when the cap lets the next one through.
    blocking_at = models.DateTimeField(_("last touch"), null=True, blank=True)
    next_allowed_at = models.DateTimeField(_("next allowed"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Touch.Source.choices)
    # A re-run of the same request (the planner the same night) is logged once.
    key = models.CharField(_("idempotency key"), max_length=200, unique=True, null=True, blank=True)
    plan = models.ForeignKey(
        "contacts.ContactPlan", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("refused touch")
        verbose_name_plural = _("refused touches")
        indexes = [
            models.Index(fields=["customer", "created_at"], name="refused_customer_time_idx")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel}/{self.kind}: {self.reason}"

    def describe(self) -> str:
        """The refusal in the reader's language ("SMS: already sent on 3 Nov; next allowed 3 Dec")."""
        from .caps import describe_refusal

        return describe_refusal(
            reason=self.reason,
            channel=self.channel,
            blocking_at=self.blocking_at,
            next_allowed_at=self.next_allowed_at,
            requested_for=self.requested_for,
        )


class MessageTemplate(models.Model):
    """The text of one message per channel and language; variables use Django template syntax.

    Variables: {{ first_name }}, {{ name }}, {{ points_balance }}, {{ tier }}, {{ offer }},
    {{ unsubscribe_url }}, {{ feedback_url }}, {{ company }}.
    """

    code = models.SlugField(_("code"), max_length=50)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["code", "channel", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(
                fields=["code", "channel", "language"], name="message_template_once_per_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()}, {self.language})"


class OutboxMessage(models.Model):
    """A message recorded before it is sent, and sent at most once.

    A worker claims a row with a conditional UPDATE (pending -> sending) before talking to the
    provider, so two workers never send one row. A row still in `sending` after a crash may or may
    not have gone out: it becomes `unknown` and is never re-sent without a person deciding to.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        UNKNOWN = "unknown", _("Unknown (check with the provider)")
        CANCELLED = "cancelled", _("Cancelled")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="outbox_messages",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    template = models.ForeignKey(
        MessageTemplate,
        verbose_name=_("template"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    language = models.CharField(_("language"), max_length=5)
    to = models.CharField(_("to"), max_length=254)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    touch = models.OneToOneField(
        Touch,
        verbose_name=_("touch"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="message",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    provider_message_id = models.CharField(_("provider's message id"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx"),
            models.Index(fields=["customer", "created_at"], name="outbox_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class ContactPlan(models.Model):
    """A standing rule of contact for a segment, turned into call-list entries or messages nightly."""

    class Segment(models.TextChoices):
        VALUE_A = "value_a", _("Value class A")
        HIGH_VALUE_AT_RISK = "high_value_at_risk", _("High value (A/B) at high risk")
        DORMANT = "dormant", _("Dormant customers")
        WITH_CONSENT = "with_consent", _("Everyone with consent on the channel")
        BIRTHDAY = "birthday", _("Birthday today")
        TOP_CUSTOMERS = "top_customers", _("Top customers (partners and class A)")
        RECENT_BUYERS = "recent_buyers", _("Bought yesterday")

    class Action(models.TextChoices):
        CALL = "call", _("Put on the owner's call list")
        MESSAGE = "message", _("Send a message")
        FEEDBACK = "feedback", _("Send the feedback survey")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    segment = models.CharField(_("segment"), max_length=20, choices=Segment.choices)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.PHONE
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.PERSONAL)
    template_code = models.SlugField(
        _("message template code"), max_length=50, blank=True, help_text=_("For messages.")
    )
    every_days = models.PositiveSmallIntegerField(
        _("repeat after days"),
        default=30,
        help_text=_("A customer is due again this many days after the last contact by this plan."),
    )
    within_days = models.PositiveSmallIntegerField(
        _("call within days"),
        default=0,
        help_text=_("For calls: how many days the rep has; 0 means today."),
    )
    offer = models.CharField(_("suggested offer"), max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(
        _("order"),
        default=100,
        help_text=_(
            "Plans run in this order each night: an earlier plan takes a cap's free slot first, "
            "so occasions (birthdays) come before the newsletter."
        ),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("contact plan")
        verbose_name_plural = _("contact plans")
        constraints = [
            models.CheckConstraint(condition=Q(every_days__gt=0), name="plan_every_days_positive"),
            models.CheckConstraint(
                condition=~Q(action="message") | ~Q(template_code=""),
                name="plan_message_has_template",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CallListEntry(models.Model):
    """One reason to call a customer on a day; the owner's call list shows the open ones due."""

    class Reason(models.TextChoices):
        KEY_ACCOUNT = "key_account", _("Key account")
        AT_RISK = "at_risk", _("High value at risk")
        WIN_BACK = "win_back", _("Win back")
        CALLBACK = "callback", _("Callback promised")
        NO_ANSWER = "no_answer", _("No answer: try again")
        LOW_FEEDBACK = "low_feedback", _("Low feedback score")
        BIRTHDAY = "birthday", _("Birthday")
        EVENT = "event", _("Event invitation")
        PLAN = "plan", _("Contact plan")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="call_list_entries",
    )
    day = models.DateField(_("day"))
    reason = models.CharField(_("reason"), max_length=14, choices=Reason.choices)
    status = models.CharField(
        _("status"), max_length=6, choices=Status.choices, default=Status.OPEN
    )
    plan = models.ForeignKey(
        ContactPlan,
        verbose_name=_("plan"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="entries",
    )
    due_by = models.DateField(_("due by"), null=True, blank=True)
    callback_at = models.DateTimeField(_("call back at"), null=True, blank=True)
    offer = models.CharField(_("suggested offer"), max_length=200, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    touch = models.ForeignKey(
        Touch,
        verbose_name=_("logged as"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="entries",
    )
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["day", "id"]
        verbose_name = _("call list entry")
        verbose_name_plural = _("call list entries")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "day", "reason"], name="call_list_entry_once_per_day"
            ),
        ]
        indexes = [models.Index(fields=["status", "day"], name="call_list_open_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.day} {self.reason}"


class Feedback(models.Model):
    """One survey sent to a customer and, once answered, the answer (DOMAIN.md section 6)."""

    class Chip(models.TextChoices):
        PRICE = "price", _("Price")
        QUALITY = "quality", _("Quality")
        DELIVERY = "delivery", _("Delivery")
        SERVICE = "service", _("Service")
        RANGE = "range", _("Choice of products")
        REP = "rep", _("My account manager")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="feedback",
    )
    key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    score = models.PositiveSmallIntegerField(_("would recommend (0-10)"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__lte=10), name="feedback_score_0_10"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.score if self.score is not None else '-'}"

    @property
    def is_low(self) -> bool:
        return self.score is not None and self.score <= 6
