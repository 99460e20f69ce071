"""The outbox: every message is a row before it is sent, and each row is sent at most once."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from common.enqueue import enqueue
from contacts import conf
from contacts.delivery import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    send_email,
    send_sms,
)
from contacts.errors import MessageTemplateMissingError
from contacts.models import (
    CONSENT_CHANNELS,
    Channel,
    Kind,
    MessageTemplate,
    OutboxMessage,
    RefusedTouch,
    Touch,
)
from contacts.signals import merge_responses, message_variables
from customers.models import Customer

from .booking import BookingRequest, book_contacts, error_for

logger = logging.getLogger(__name__)

MESSAGE_CHANNELS = (Channel.EMAIL, Channel.SMS)
UNSUBSCRIBE_SALT = "contacts.unsubscribe"


@dataclass
class QueueResult:
    messages: dict[int, OutboxMessage] = field(default_factory=dict)
    refusals: dict[int, RefusedTouch] = field(default_factory=dict)
    created: list[int] = field(default_factory=list)


def unsubscribe_token(*, customer_id: int, channel: str) -> str:
    return signing.dumps({"c": customer_id, "ch": channel}, salt=UNSUBSCRIBE_SALT)


def read_unsubscribe_token(token: str) -> tuple[int, str]:
    """(customer id, channel) of a genuine token; signing.BadSignature for anything else."""
    data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("c"), int)
        or data.get("ch") not in CONSENT_CHANNELS
    ):
        raise signing.BadSignature("malformed unsubscribe token")
    return data["c"], data["ch"]


_TOKEN_PLACEHOLDER = "--token--"  # noqa: S105 - a URL placeholder, not a secret


def unsubscribe_url(*, customer_id: int, channel: str, base: str | None = None) -> str:
    """The customer's signed opt-out link; pass `base` (unsubscribe_url_base()) when making many."""
    token = unsubscribe_token(customer_id=customer_id, channel=channel)
    return (base or unsubscribe_url_base()).replace(_TOKEN_PLACEHOLDER, token)


def unsubscribe_url_base() -> str:
    return conf.public_base_url() + reverse("contacts:unsubscribe", args=[_TOKEN_PLACEHOLDER])


def first_name_of(customer: Customer) -> str:
    if customer.kind == Customer.Kind.PERSON and customer.name.strip():
        return customer.name.split()[0]
    return customer.name


def address_of(customer: Customer, channel: str) -> str:
    return {Channel.EMAIL: customer.email, Channel.SMS: customer.phone}.get(channel, "") or ""


def _pick_template(templates: dict[str, MessageTemplate], language: str) -> MessageTemplate:
    return (
        templates.get(language)
        or templates.get(settings.LANGUAGE_CODE)
        or next(iter(templates.values()))
    )


class CompiledTemplates:
    """Each message template compiled once per batch, not once per customer."""

    def __init__(self) -> None:
        self._compiled: dict[int, tuple[Template, Template]] = {}

    def render(self, template: MessageTemplate, variables: dict) -> tuple[str, str]:
        if template.pk not in self._compiled:
            self._compiled[template.pk] = (Template(template.subject), Template(template.body))
        subject_template, body_template = self._compiled[template.pk]
        context = Context(variables, autoescape=False)
        subject = subject_template.render(context).strip()
        # A subject is one line, whatever the template's author typed.
        return " ".join(subject.split())[:200], body_template.render(context).strip()


def render_template(template: MessageTemplate, variables: dict) -> tuple[str, str]:
    """(subject, body) as plain text: messages are text, so nothing is HTML-escaped."""
    return CompiledTemplates().render(template, variables)


def queue_messages(
    *,
    customer_ids: list[int],
    template_code: str,
    channel: str,
    source: str,
    key_for: Callable[[int], str],
    day: date | None = None,
    at: datetime | None = None,
    kind: str | None = None,
    plan=None,
    by=None,
    offer: str = "",
    extra_context: dict[int, dict] | None = None,
) -> QueueResult:
    """Books and records a message per customer the rules allow, logging a refusal for the others.

    Must run inside a transaction (the booking locks are held until it commits). A customer whose
    key was queued before gets that message back; nothing is sent twice. Messages due now are
    handed to a worker after commit; later ones are picked up by the sweeper when due.
    """
    if channel not in MESSAGE_CHANNELS:
        raise ValueError(f"the outbox does not send on {channel}")
    templates = {
        template.language: template
        for template in MessageTemplate.objects.filter(
            code=template_code, channel=channel, active=True
        )
    }
    if not templates:
        raise MessageTemplateMissingError(
            _("There is no active %(channel)s template “%(code)s”.")
            % {"channel": Channel(channel).label, "code": template_code}
        )
    kind = kind or next(iter(templates.values())).kind
    keys = {customer_id: key_for(customer_id) for customer_id in dict.fromkeys(customer_ids)}
    result = QueueResult()
    for message in OutboxMessage.objects.filter(key__in=keys.values()):
        result.messages[message.customer_id] = message
    customers = {
        customer.pk: customer
        for customer in Customer.objects.filter(
            pk__in=[pk for pk in keys if pk not in result.messages]
        ).only("pk", "name", "kind", "email", "phone", "language")
    }
    with_address = [pk for pk, customer in customers.items() if address_of(customer, channel)]
    _refuse_without_address(
        [pk for pk in customers if pk not in set(with_address)],
        keys=keys,
        channel=channel,
        kind=kind,
        source=source,
        plan=plan,
        by=by,
        at=at,
        result=result,
    )
    booking = book_contacts(
        requests=[BookingRequest(customer_id=pk, key=keys[pk], at=at) for pk in with_address],
        channel=channel,
        kind=kind,
        source=source,
        day=day,
        plan=plan,
        by=by,
    )
    result.refusals.update(booking.refusals)
    booked = [pk for pk in with_address if pk in booking.bookings]
    variables = merge_responses(message_variables.send(sender=OutboxMessage, customer_ids=booked))
    compiled = CompiledTemplates()
    link_base = unsubscribe_url_base()
    new_messages = []
    for pk in booked:
        touch = booking.bookings[pk]
        customer = customers[pk]
        template = _pick_template(templates, customer.language)
        context = {
            "first_name": first_name_of(customer),
            "name": customer.name,
            "offer": offer,
            "company": conf.company_name(),
            "points_balance": "",
            "tier": "",
            "unsubscribe_url": unsubscribe_url(customer_id=pk, channel=channel, base=link_base),
        }
        for extra in variables.get(pk, []):
            context.update(extra)
        context.update((extra_context or {}).get(pk, {}))
        subject, body = compiled.render(template, context)
        new_messages.append(
            OutboxMessage(
                customer_id=pk,
                channel=channel,
                kind=kind,
                template=template,
                language=template.language,
                to=address_of(customer, channel),
                subject=subject,
                body=body,
                key=keys[pk],
                touch=touch,
                next_attempt_at=touch.at,
            )
        )
    for message in OutboxMessage.objects.bulk_create(new_messages):
        result.messages[message.customer_id] = message
        result.created.append(message.pk)
    now = timezone.now()
    due = [message.pk for message in new_messages if message.next_attempt_at <= now]
    if due:
        transaction.on_commit(lambda: enqueue_outbox_messages(due))
    return result


def _refuse_without_address(
    customer_ids: list[int], *, keys, channel, kind, source, plan, by, at, result: QueueResult
) -> None:
    if not customer_ids:
        return
    logged = set(
        RefusedTouch.objects.filter(key__in=[keys[pk] for pk in customer_ids]).values_list(
            "key", flat=True
        )
    )
    refusals = [
        RefusedTouch(
            customer_id=pk,
            channel=channel,
            kind=kind,
            reason=RefusedTouch.Reason.NO_ADDRESS,
            requested_for=at or timezone.now(),
            source=source,
            key=keys[pk],
            plan=plan,
            by=by,
        )
        for pk in customer_ids
    ]
    RefusedTouch.objects.bulk_create([r for r in refusals if r.key not in logged])
    result.refusals.update({refusal.customer_id: refusal for refusal in refusals})


def queue_message(
    *,
    customer_id: int,
    template_code: str,
    channel: str,
    key: str,
    source: str = Touch.Source.OUTBOX,
    at: datetime | None = None,
    kind: str | None = None,
    by=None,
    offer: str = "",
    extra_context: dict | None = None,
) -> OutboxMessage:
    """Records one message for sending, or raises the refusal (consent, pause, cap, no address)."""
    with transaction.atomic():
        result = queue_messages(
            customer_ids=[customer_id],
            template_code=template_code,
            channel=channel,
            source=source,
            key_for=lambda _pk: key,
            at=at,
            kind=kind,
            by=by,
            offer=offer,
            extra_context={customer_id: extra_context or {}},
        )
    if customer_id in result.messages:
        return result.messages[customer_id]
    if customer_id in result.refusals:
        raise error_for(result.refusals[customer_id])
    raise Customer.DoesNotExist(f"customer {customer_id} does not exist")


def enqueue_outbox_messages(message_ids: list[int]) -> None:
    """Hands messages to workers; a duplicate hand-off is harmless (the claim decides)."""
    from contacts.tasks import send_outbox_message_task

    for message_id in message_ids:
        enqueue(send_outbox_message_task, message_id=message_id)


def _retry_delay(attempts: int) -> timedelta:
    # 1, 2, 4, 8 ... minutes with the default base: a provider outage is ridden out, not hammered.
    return timedelta(seconds=conf.outbox_retry_base_seconds() * 2 ** max(attempts - 1, 0))


def _finish(message_id: int, *, touch_status: str | None = None, **fields) -> None:
    with transaction.atomic():
        OutboxMessage.objects.filter(
            pk=message_id,
            status__in=[OutboxMessage.Status.SENDING, OutboxMessage.Status.UNKNOWN],
        ).update(**fields)
        if touch_status is not None:
            Touch.objects.filter(message__pk=message_id).update(status=touch_status)


def deliver_outbox_message(*, message_id: int, now: datetime | None = None) -> str:
    """Sends one due message at most once; returns its status afterwards.

    Not one transaction on purpose: the claim (pending -> sending) commits before the provider is
    called, so a crash mid-send leaves the row in `sending`, which the sweeper turns into
    `unknown` rather than sending it again.
    """
    now = now or timezone.now()
    claimed = OutboxMessage.objects.filter(
        pk=message_id, status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now
    ).update(status=OutboxMessage.Status.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    if not claimed:
        return (
            OutboxMessage.objects.filter(pk=message_id).values_list("status", flat=True).first()
            or ""
        )
    message = OutboxMessage.objects.select_related("customer").get(pk=message_id)
    customer = message.customer
    if message.kind != Kind.SERVICE and not customer.has_consent(message.channel):
        _finish(
            message_id,
            touch_status=Touch.Status.CANCELLED,
            status=OutboxMessage.Status.CANCELLED,
            last_error="consent withdrawn",
        )
        logger.info("outbox.cancelled id=%s reason=no_consent", message_id)
        return OutboxMessage.Status.CANCELLED
    try:
        if message.channel == Channel.EMAIL:
            provider_id = send_email(
                to=message.to,
                subject=message.subject,
                body=message.body,
                key=message.key,
                headers=_email_headers(message),
            )
        else:
            provider_id = send_sms(to=message.to, body=message.body, key=message.key)
    except PermanentDeliveryError as error:
        _finish(
            message_id,
            touch_status=Touch.Status.CANCELLED,
            status=OutboxMessage.Status.FAILED,
            last_error=str(error)[:1000],
        )
        logger.warning("outbox.failed id=%s error=%s", message_id, error)
        return OutboxMessage.Status.FAILED
    except AmbiguousDeliveryError as error:
        _finish(message_id, status=OutboxMessage.Status.UNKNOWN, last_error=str(error)[:1000])
        logger.warning("outbox.unknown id=%s error=%s", message_id, error)
        return OutboxMessage.Status.UNKNOWN
    except Exception as error:  # noqa: BLE001 - any other failure: not sent, try again later
        return _after_failure(message, error=error, now=now)
    _finish(
        message_id,
        touch_status=Touch.Status.DONE,
        status=OutboxMessage.Status.SENT,
        sent_at=timezone.now(),
        provider_message_id=(provider_id or "")[:200],
        last_error="",
    )
    logger.info(
        "outbox.sent id=%s channel=%s attempts=%s", message_id, message.channel, message.attempts
    )
    return OutboxMessage.Status.SENT


def _after_failure(message: OutboxMessage, *, error: Exception, now: datetime) -> str:
    text = f"{type(error).__name__}: {error}"[:1000]
    if message.attempts >= conf.outbox_max_attempts():
        _finish(
            message.pk,
            touch_status=Touch.Status.CANCELLED,
            status=OutboxMessage.Status.FAILED,
            last_error=text,
        )
        logger.warning("outbox.gave_up id=%s attempts=%s", message.pk, message.attempts)
        return OutboxMessage.Status.FAILED
    _finish(
        message.pk,
        status=OutboxMessage.Status.PENDING,
        next_attempt_at=now + _retry_delay(message.attempts),
        last_error=text,
    )
    logger.info("outbox.retry id=%s attempts=%s", message.pk, message.attempts)
    return OutboxMessage.Status.PENDING


def _email_headers(message: OutboxMessage) -> dict:
    if message.kind == Kind.SERVICE:
        return {}
    url = unsubscribe_url(customer_id=message.customer_id, channel=message.channel)
    return {"List-Unsubscribe": f"<{url}>"}


@dataclass(frozen=True)
class SweepResult:
    marked_unknown: int
    due_ids: list[int]


# One sweep hands out at most this many due messages: a backlog drains over a few minutes instead
# of one sweep flooding the broker.
SWEEP_BATCH = 1000


def sweep_outbox(*, now: datetime | None = None) -> SweepResult:
    """Marks rows stuck in `sending` as unknown and returns the pending rows due for a send."""
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=conf.outbox_sending_timeout_seconds())
    marked = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.SENDING, claimed_at__lt=stuck_before
    ).update(
        status=OutboxMessage.Status.UNKNOWN,
        last_error="still sending after the timeout: the worker probably stopped mid-send",
    )
    if marked:
        logger.warning("outbox.marked_unknown count=%s", marked)
    due_ids = list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    return SweepResult(marked_unknown=marked, due_ids=due_ids)


@transaction.atomic
def release_unknown_message(*, message_id: int, by) -> bool:
    """Puts an `unknown` message back in the queue after a person checked it was not delivered."""
    released = OutboxMessage.objects.filter(
        pk=message_id, status=OutboxMessage.Status.UNKNOWN
    ).update(status=OutboxMessage.Status.PENDING, next_attempt_at=timezone.now())
    if released:
        logger.info("outbox.released id=%s by=%s", message_id, getattr(by, "pk", None))
        transaction.on_commit(lambda: enqueue_outbox_messages([message_id]))
    return bool(released)


@transaction.atomic
def cancel_outbox_message(*, message_id: int, by) -> bool:
    """Cancels a message that is still waiting, which frees its cap slot. An `unknown` one may
    have reached the customer, so it is cancelled without freeing the slot."""
    status = (
        OutboxMessage.objects.select_for_update()
        .filter(pk=message_id)
        .values_list("status", flat=True)
        .first()
    )
    cancelled = OutboxMessage.objects.filter(
        pk=message_id,
        status__in=[OutboxMessage.Status.PENDING, OutboxMessage.Status.UNKNOWN],
    ).update(status=OutboxMessage.Status.CANCELLED)
    if cancelled and status == OutboxMessage.Status.PENDING:
        Touch.objects.filter(message__pk=message_id, status=Touch.Status.PLANNED).update(
            status=Touch.Status.CANCELLED
        )
    if cancelled:
        logger.info("outbox.cancelled id=%s by=%s", message_id, getattr(by, "pk", None))
    return bool(cancelled)
