"""Factories of the contacts tests (the shared ones are in tests/factories.py)."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from contacts.models import CallListEntry, CapOverride, Channel, Feedback, Kind, Touch
from customers.models import CustomerScore
from tests.factories import CustomerFactory


class CustomerScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerScore

    customer = factory.SubFactory(CustomerFactory)
    as_of = factory.LazyFunction(timezone.localdate)
    method = CustomerScore.Method.RULE
    value_class = "C"
    risk_level = "low"
    dormant = False
    revenue_12m = Decimal("1000.00")
    rfm_segment = "loyal"


class TouchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touch

    customer = factory.SubFactory(CustomerFactory)
    channel = Channel.PHONE
    kind = Kind.PERSONAL
    status = Touch.Status.DONE
    at = factory.LazyFunction(timezone.now)
    source = Touch.Source.REP


class CallListEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallListEntry

    customer = factory.SubFactory(CustomerFactory)
    day = factory.LazyFunction(timezone.localdate)
    reason = CallListEntry.Reason.PLAN


class CapOverrideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CapOverride

    customer = factory.SubFactory(CustomerFactory)
    channel = Channel.PHONE
    kind = ""
    max_count = 1
    period_days = 7


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feedback

    customer = factory.SubFactory(CustomerFactory)
    key = factory.Sequence(lambda n: f"feedback-test-{n}")
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
