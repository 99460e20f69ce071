"""The customer list's rows, written in Python, give the markup the row template gave."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from customers import selectors
from customers.templatetags.customer_rows import ROW_VALUES
from tests.api.builders import score_for
from tests.factories import CustomerFactory, ManagerFactory, PurchaseFactory, RepFactory

pytestmark = pytest.mark.django_db

# The row as customers/customer_list.html rendered it with the template engine (its last-purchase
# title now shows the short date and the time, which the tag writes without a second format).
REFERENCE_ROW = """{% load humanize i18n retention_tags %}{% for customer in customers %}
<tr>
  <td class="name-cell"><a href="{{ customer.get_absolute_url }}" class="fw-semibold">{{ customer.name }}</a>
    <div class="small text-secondary">{{ customer.get_kind_display }}{% if customer.external_id %} · {{ customer.external_id }}{% endif %}</div></td>
  <td class="d-none d-md-table-cell small">{{ customer.email|default:"" }}<br>{{ customer.phone|default:"" }}</td>
  <td class="badges-cell">{% stage_badge customer %}
    {% if customer.score %}{% value_badge customer.score.value_class %}
    {% risk_badge customer.score.risk_level customer.score.get_risk_level_display %}
    {% if customer.score.dormant %}<span class="badge text-bg-danger">{% translate "dormant" %}</span>{% endif %}{% endif %}</td>
  <td class="d-none d-lg-table-cell">{% if customer.owner %}{{ customer.owner.get_full_name|default:customer.owner.username }}{% if not customer.owner.is_active %} <span class="badge text-bg-warning">{% translate "inactive" %}</span>{% endif %}{% else %}<span class="badge text-bg-warning">{% translate "unassigned" %}</span>{% endif %}</td>
  <td>{% if customer.last_purchase_at %}<span title="{{ customer.last_purchase_at|date:"SHORT_DATE_FORMAT" }} {{ customer.last_purchase_at|time:"H:i" }}">{{ customer.last_purchase_at|date:"SHORT_DATE_FORMAT" }}</span>
    <div class="small text-secondary">{{ customer.last_purchase_at|naturaltime }}</div>{% else %}<span class="text-secondary">—</span>{% endif %}</td>
</tr>
{% endfor %}"""


def normalised(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_rows_equal_the_template_rows(language):
    rep = RepFactory(first_name="Анна", last_name="<Смирнова>")
    gone = RepFactory(is_active=False)
    customers = [
        CustomerFactory(owner=rep, name='Tom & "Jerry" <Ltd>', external_id="X-1", stage="partner"),
        CustomerFactory(owner=gone, external_id="", email="", phone="+7 900", stage="regular"),
        CustomerFactory(owner=None, kind="person"),
        CustomerFactory(owner=rep),
    ]
    score_for(customers[0], value_class="A", risk_level="high", dormant=True)
    score_for(customers[1], value_class="-", risk_level="medium")
    score_for(customers[2], value_class="B", risk_level="low")
    for days, customer in [(400, customers[0]), (3, customers[1]), (0, customers[2])]:
        PurchaseFactory(customer=customer, occurred_at=timezone.now() - timedelta(days=days, hours=2))
    listed = selectors.customer_list_for(ManagerFactory(), ordering="name")
    page = list(listed)
    # As the list view reads them: only the values the rows show.
    shown = list(listed.select_related(None).values(*ROW_VALUES))
    assert len(page) == len(shown) == 4

    with translation.override(language):
        expected = Template(REFERENCE_ROW).render(Context({"customers": page}))
        with CaptureQueriesContext(connection) as queries:
            written = Template("{% load customer_rows %}{% customer_rows customers %}").render(
                Context({"customers": shown})
            )
    assert queries.captured_queries == []  # nothing the rows show was left unread
    assert normalised(written) == normalised(expected)
    assert "&lt;Смирнова&gt;" in written
    assert "Tom &amp; &quot;Jerry&quot; &lt;Ltd&gt;" in written


def test_no_rows_for_no_customers():
    assert Template("{% load customer_rows %}{% customer_rows customers %}").render(
        Context({"customers": []})
    ) == ""


@pytest.mark.parametrize("language", ["en", "ru"])
def test_relative_times_read_as_naturaltime_says(language):
    from datetime import UTC, datetime

    import time_machine
    from django.contrib.humanize.templatetags.humanize import naturaltime

    from customers.templatetags.customer_rows import _Page

    now = datetime(2026, 3, 31, 12, 30, tzinfo=UTC)
    offsets = [
        timedelta(seconds=5), timedelta(minutes=59), timedelta(hours=23, minutes=59),
        timedelta(days=1), timedelta(days=1, hours=5), timedelta(days=6, hours=23),
        timedelta(days=7), timedelta(days=13, hours=1), timedelta(days=29), timedelta(days=31),
        timedelta(days=45, hours=3), timedelta(days=59), timedelta(days=364), timedelta(days=365),
        timedelta(days=366), timedelta(days=400), timedelta(days=800, minutes=7),
        timedelta(days=-2), timedelta(hours=-1),
    ]
    with time_machine.travel(now, tick=False), translation.override(language):
        page = _Page()
        for offset in offsets:
            moment = now - offset
            assert page.relative(moment) == naturaltime(moment), offset
            assert page.relative(moment) == naturaltime(moment), offset  # from the page's units


PURCHASE_ROW = """{% load retention_tags %}{% for purchase in purchases %}
<tr>
  <td>{{ purchase.occurred_at|date:"SHORT_DATETIME_FORMAT" }}</td>
  <td class="small">{{ purchase.external_id }}</td>
  <td class="text-end">{{ purchase.amount|floatformat:"2g" }} <span class="small text-secondary">{{ purchase.currency }}</span></td>
  <td class="text-end">{% if purchase.refunded %}<span class="text-danger">−{{ purchase.refunded|floatformat:"2g" }}</span>{% else %}—{% endif %}</td>
  <td class="d-none d-md-table-cell small text-secondary">{{ purchase.get_source_display }}</td>
</tr>
{% endfor %}"""


@pytest.mark.parametrize("language", ["en", "ru"])
def test_purchase_rows_equal_the_template_rows(language):
    from decimal import Decimal

    from customers.models import Purchase
    from tests.factories import RefundFactory

    customer = CustomerFactory()
    for number, (amount, source) in enumerate(
        [("1234567.89", "api"), ("0.50", "import"), ("99.99", "ui"), ("1000.00", "demo")]
    ):
        purchase = PurchaseFactory(
            customer=customer, amount=Decimal(amount), source=source,
            external_id=f"<R&{number}>", occurred_at=timezone.now() - timedelta(days=number * 40),
        )
        if number % 2:
            RefundFactory(purchase=purchase, amount=Decimal(amount) / 2)
            RefundFactory(purchase=purchase, amount=Decimal("0.01"))
    purchases = list(selectors.purchases_of(customer))
    assert any(purchase.refunded for purchase in purchases)
    assert Purchase.objects.filter(customer=customer).count() == len(purchases) == 4

    with translation.override(language):
        expected = Template(PURCHASE_ROW).render(Context({"purchases": purchases}))
        written = Template("{% load customer_rows %}{% purchase_rows purchases %}").render(
            Context({"purchases": purchases})
        )
    assert normalised(written) == normalised(expected)
    assert "&lt;R&amp;0&gt;" in written
