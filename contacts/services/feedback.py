"""Customer feedback (DOMAIN.md section 6): a short survey sent through the outbox and its answer."""

import logging
from collections.abc import Callable
from datetime import date, timedelta

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from contacts import conf
from contacts.errors import FeedbackError
from contacts.models import CallListEntry, Channel, Feedback, Touch
from contacts.signals import feedback_received
from customers.models import Customer

from .booking import error_for
from .outbox import QueueResult, queue_messages

logger = logging.getLogger(__name__)

FEEDBACK_SALT = "contacts.feedback"
FEEDBACK_TEMPLATE = "feedback_survey"
# A score of 0-6 is a detractor on the usual 0-10 "would you recommend us" scale.
LOW_SCORE = 6


def feedback_token(feedback_id: int) -> str:
    return signing.dumps(feedback_id, salt=FEEDBACK_SALT)


def read_feedback_token(token: str) -> int:
    """The survey id of a genuine token; signing.BadSignature for anything else."""
    value = signing.loads(token, salt=FEEDBACK_SALT)
    if not isinstance(value, int):
        raise signing.BadSignature("malformed feedback token")
    return value


_TOKEN_PLACEHOLDER = "--token--"  # noqa: S105 - a URL placeholder, not a secret


def feedback_url(feedback_id: int, *, base: str | None = None) -> str:
    """The survey's signed link; pass `base` (feedback_url_base()) when making many."""
    return (base or feedback_url_base()).replace(_TOKEN_PLACEHOLDER, feedback_token(feedback_id))


def feedback_url_base() -> str:
    return conf.public_base_url() + reverse("contacts:feedback", args=[_TOKEN_PLACEHOLDER])


def send_feedback_surveys(
    *,
    customer_ids: list[int],
    key_for: Callable[[int], str],
    source: str = Touch.Source.FEEDBACK,
    channel: str = Channel.EMAIL,
    day: date | None = None,
    plan=None,
    by=None,
) -> QueueResult:
    """Creates a survey and queues its message per customer the rules allow (inside a transaction).

    A survey whose message was refused is removed again: only surveys that went out exist.
    """
    keys = {customer_id: key_for(customer_id) for customer_id in customer_ids}
    Feedback.objects.bulk_create(
        [Feedback(customer_id=pk, key=key) for pk, key in keys.items()], ignore_conflicts=True
    )
    link_base = feedback_url_base()
    survey_ids = dict(
        Feedback.objects.filter(key__in=keys.values()).values_list("customer_id", "pk")
    )
    result = queue_messages(
        customer_ids=list(keys),
        template_code=FEEDBACK_TEMPLATE,
        channel=channel,
        source=source,
        key_for=keys.__getitem__,
        day=day,
        plan=plan,
        by=by,
        extra_context={
            pk: {"feedback_url": feedback_url(survey_ids[pk], base=link_base)} for pk in survey_ids
        },
    )
    refused = [keys[pk] for pk in keys if pk not in result.messages]
    if refused:
        Feedback.objects.filter(key__in=refused, answered_at__isnull=True).delete()
    return result


def request_feedback(
    *, customer_id: int, key: str, channel: str = Channel.EMAIL, by=None
) -> Feedback:
    """Sends one customer the survey, or raises the refusal (consent, pause, cap, no address)."""
    with transaction.atomic():
        result = send_feedback_surveys(
            customer_ids=[customer_id], key_for=lambda _pk: key, channel=channel, by=by
        )
    if customer_id in result.messages:
        return Feedback.objects.get(key=key)
    if customer_id in result.refusals:
        raise error_for(result.refusals[customer_id])
    raise Customer.DoesNotExist(f"customer {customer_id} does not exist")


@transaction.atomic
def record_feedback(
    *, feedback_id: int, score: int, comment: str = "", reasons: list[str] | tuple = ()
) -> Feedback:
    """Stores the answer once; a low score puts the customer on the owner's call list tomorrow."""
    feedback = Feedback.objects.select_for_update().get(pk=feedback_id)
    if feedback.answered_at is not None:
        raise FeedbackError(_("This survey has already been answered. Thank you!"))
    if not isinstance(score, int) or not 0 <= score <= 10:
        raise FeedbackError(_("Choose a score from 0 to 10."), field="score")
    unknown = set(reasons) - set(Feedback.Chip.values)
    if unknown:
        raise FeedbackError(_("Choose reasons from the list."), field="reasons")
    feedback.score = score
    feedback.comment = comment.strip()[:4000]
    feedback.reasons = [chip for chip in Feedback.Chip.values if chip in set(reasons)]
    feedback.answered_at = timezone.now()
    feedback.save(update_fields=["score", "comment", "reasons", "answered_at"])
    if feedback.is_low:
        CallListEntry.objects.get_or_create(
            customer_id=feedback.customer_id,
            day=timezone.localdate() + timedelta(days=1),
            reason=CallListEntry.Reason.LOW_FEEDBACK,
            defaults={"note": _("Feedback score %(score)s of 10") % {"score": score}},
        )
    feedback_received.send(
        sender=Feedback, feedback_id=feedback.pk, customer_id=feedback.customer_id, score=score
    )
    logger.info(
        "feedback.answered id=%s customer=%s low=%s",
        feedback.pk,
        feedback.customer_id,
        feedback.is_low,
    )
    return feedback
