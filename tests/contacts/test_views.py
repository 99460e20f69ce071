"""Contacts pages: happy paths, permissions and bad input."""

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts import services
from contacts.models import CallListEntry, Channel, ConsentChange, ContactPreferences, Kind, Touch
from contacts.selectors import customer_contacts_context
from tests.contacts.factories import CallListEntryFactory, CustomerScoreFactory, TouchFactory
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.contacts.urls")]

TODAY = date(2026, 3, 10)
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(reverse("contacts:call-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_rep_sees_their_call_list_in_priority_order(rep_client, rep, noon):
    low = CustomerFactory(owner=rep, name="Low Value Ltd")
    CustomerScoreFactory(customer=low, value_class="C")
    high = CustomerFactory(owner=rep, name="High Value Ltd")
    CustomerScoreFactory(customer=high, value_class="A", risk_level="high")
    CallListEntryFactory(customer=low, day=TODAY)
    CallListEntryFactory(customer=high, day=TODAY)
    body = rep_client.get(reverse("contacts:call-list")).content.decode()
    assert body.index("High Value Ltd") < body.index("Low Value Ltd")
    assert 'hx-post="/contacts/call-list/' in body


def test_a_rep_cannot_open_another_reps_list(rep_client, rep, other_rep, noon):
    CallListEntryFactory(customer=CustomerFactory(owner=other_rep, name="Foreign Ltd"), day=TODAY)
    body = rep_client.get(reverse("contacts:call-list"), {"rep": other_rep.pk}).content.decode()
    assert "Foreign Ltd" not in body


def test_a_manager_picks_whose_list_to_see(manager_client, rep, noon):
    CallListEntryFactory(customer=CustomerFactory(owner=rep, name="Reps Ltd"), day=TODAY)
    assert (
        "Reps Ltd"
        in manager_client.get(reverse("contacts:call-list"), {"rep": rep.pk}).content.decode()
    )
    assert manager_client.get(reverse("contacts:call-list"), {"rep": 999999}).status_code == 404


def test_logging_a_no_answer_swaps_the_row_to_its_logged_state(rep_client, rep, customer, noon):
    CallListEntryFactory(customer=customer, day=TODAY)
    response = rep_client.post(
        reverse("contacts:log-outcome", args=[customer.pk]),
        {"outcome": "no_answer", "notes": "Voicemail"},
        **HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="logged"' in body
    assert "No answer" in body
    assert "Voicemail" in body
    assert "<html" not in body
    touch = Touch.objects.get()
    assert (touch.by, touch.outcome, touch.status) == (rep, "no_answer", "done")
    assert CallListEntry.objects.get(day=TODAY).status == "done"
    assert CallListEntry.objects.get(reason="no_answer").day == TODAY + timedelta(days=2)


def test_logging_the_reason_for_leaving_of_a_dormant_customer(rep_client, customer, noon):
    CustomerScoreFactory(customer=customer, dormant=True)
    CallListEntryFactory(customer=customer, day=TODAY, reason="win_back")
    page = rep_client.get(reverse("contacts:call-list")).content.decode()
    assert 'name="leave_reason"' in page
    response = rep_client.post(
        reverse("contacts:log-outcome", args=[customer.pk]),
        {"outcome": "reached", "leave_reason": "price"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "Price" in response.content.decode()
    assert Touch.objects.get().leave_reason == "price"


def test_a_dormant_customer_reached_without_a_reason_is_a_400_with_the_field_error(
    rep_client, customer, noon
):
    CustomerScoreFactory(customer=customer, dormant=True)
    CallListEntryFactory(customer=customer, day=TODAY)
    response = rep_client.post(
        reverse("contacts:log-outcome", args=[customer.pk]), {"outcome": "reached"}, **HTMX
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-testid="error-leave_reason"' in body
    assert "record why they left" in body
    # The row keeps what the rep chose.
    assert f'value="reached" id="outcome-{customer.pk}-reached" autocomplete="off" checked' in body
    assert not Touch.objects.exists()


def test_bad_input_is_a_400_with_field_errors(rep_client, customer, noon):
    CallListEntryFactory(customer=customer, day=TODAY)
    url = reverse("contacts:log-outcome", args=[customer.pk])
    missing = rep_client.post(url, {}, **HTMX)
    assert missing.status_code == 400
    assert 'data-testid="error-outcome"' in missing.content.decode()
    no_time = rep_client.post(url, {"outcome": "callback"}, **HTMX)
    assert no_time.status_code == 400
    assert 'data-testid="error-callback_at"' in no_time.content.decode()
    assert not Touch.objects.exists()


def test_a_callback_is_logged_with_its_time(rep_client, customer, noon):
    response = rep_client.post(
        reverse("contacts:log-outcome", args=[customer.pk]),
        {"outcome": "callback", "callback_at": "2026-03-12T15:30"},
        **HTMX,
    )
    assert response.status_code == 200
    entry = CallListEntry.objects.get(reason="callback")
    assert entry.day == date(2026, 3, 12)
    assert timezone.localtime(entry.callback_at).strftime("%H:%M") == "15:30"


def test_logging_for_another_reps_customer_is_not_found(rep_client, other_rep, noon):
    foreign = CustomerFactory(owner=other_rep)
    response = rep_client.post(
        reverse("contacts:log-outcome", args=[foreign.pk]), {"outcome": "reached"}, **HTMX
    )
    assert response.status_code == 404
    assert not Touch.objects.exists()


def test_logging_without_htmx_redirects_back_to_the_list(rep_client, customer, noon):
    response = rep_client.post(
        reverse("contacts:log-outcome", args=[customer.pk]), {"outcome": "declined"}
    )
    assert response.status_code == 302
    assert response.url == reverse("contacts:call-list")


def test_a_user_without_a_role_cannot_log_calls(client, customer, noon):
    stranger = get_user_model().objects.create_user("stranger", password="x")
    client.force_login(stranger)
    assert client.get(reverse("contacts:call-list")).status_code == 403
    response = client.post(
        reverse("contacts:log-outcome", args=[customer.pk]), {"outcome": "reached"}
    )
    assert response.status_code == 403


def test_the_call_list_page_runs_the_same_queries_for_few_and_many_rows(
    rep, noon, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(rep)

    def make(count):
        for _ in range(count):
            customer = CustomerFactory(owner=rep)
            CustomerScoreFactory(customer=customer, value_class="A", dormant=True)
            CallListEntryFactory(customer=customer, day=TODAY, offer="10% off")
            TouchFactory(customer=customer, at=timezone.now() - timedelta(days=40))

    make(3)
    client.get(reverse("contacts:call-list"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("contacts:call-list"))
    make(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("contacts:call-list"))
    # The most important 25 first, and a way to see more.
    body = response.content.decode()
    assert body.count('data-testid="call-row"') == 25
    assert 'data-testid="call-list-more"' in body
    with django_assert_max_num_queries(len(few.captured_queries)):
        everything = client.get(reverse("contacts:call-list"), {"show": 50})
    assert everything.content.decode().count('data-testid="call-row"') == 33


def test_a_limited_call_list_is_the_top_of_the_full_one(rep, noon):
    from contacts.selectors import call_list_for

    for index in range(12):
        customer = CustomerFactory(owner=rep)
        CustomerScoreFactory(
            customer=customer,
            value_class="ABC"[index % 3],
            risk_level=["high", "medium", "low"][index % 3 - 1],
        )
        CallListEntryFactory(customer=customer, day=TODAY - timedelta(days=index % 5))
        if index % 4:
            TouchFactory(customer=customer, at=timezone.now() - timedelta(days=3 * index))
    full = call_list_for(rep=rep, day=TODAY)
    limited = call_list_for(rep=rep, day=TODAY, limit=5)
    assert [row.customer.pk for row in limited.rows] == [row.customer.pk for row in full.rows[:5]]
    assert [row.priority for row in limited.rows] == [row.priority for row in full.rows[:5]]
    assert (limited.open_total, limited.hidden) == (12, 7)


def test_managers_see_the_key_account_watch_with_a_link_to_reassign(manager_client, rep, noon):
    customer = CustomerFactory(owner=rep, name="Forgotten Key Ltd")
    CustomerScoreFactory(customer=customer, value_class="A")
    body = manager_client.get(reverse("contacts:key-accounts")).content.decode()
    assert "Forgotten Key Ltd" in body
    assert f"{reverse('customers:reassign')}?from_rep={rep.pk}" in body


def test_reps_cannot_open_the_managers_pages(rep_client):
    assert rep_client.get(reverse("contacts:key-accounts")).status_code == 403
    assert rep_client.get(reverse("contacts:performance")).status_code == 403


def test_managers_see_rep_performance_and_bad_dates_are_a_400(manager_client, rep, noon):
    response = manager_client.get(reverse("contacts:performance"))
    assert response.status_code == 200
    assert 'data-testid="performance-row"' in response.content.decode()
    bad = manager_client.get(
        reverse("contacts:performance"), {"start": "2026-03-10", "end": "2026-03-01"}
    )
    assert bad.status_code == 400
    assert "must not be before" in bad.content.decode()


def test_a_rep_records_a_consent_withdrawal_on_the_settings_page(rep_client, rep, customer, noon):
    url = reverse("contacts:customer-settings", args=[customer.pk])
    assert rep_client.get(url).status_code == 200
    response = rep_client.post(
        url,
        {
            "form": "consent",
            "consent-channel": "sms",
            "consent-granted": "0",
            "consent-note": "said so on the phone",
        },
    )
    assert response.status_code == 302
    change = ConsentChange.objects.get()
    assert (change.channel, change.granted, change.source, change.by) == ("sms", False, "rep", rep)


def test_a_rep_sets_a_pause_and_contact_hours(rep_client, customer, noon):
    response = rep_client.post(
        reverse("contacts:customer-settings", args=[customer.pk]),
        {
            "form": "preferences",
            "preferences-preferred_channel": "phone",
            "preferences-paused_until": "2026-03-20",
            "preferences-pause_reason": "on holiday",
            "preferences-contact_from": "10:00",
            "preferences-contact_until": "18:00",
        },
    )
    assert response.status_code == 302
    preferences = ContactPreferences.objects.get(customer=customer)
    assert (preferences.preferred_channel, preferences.paused_until) == ("phone", date(2026, 3, 20))


def test_contact_hours_must_be_in_order(rep_client, customer, noon):
    response = rep_client.post(
        reverse("contacts:customer-settings", args=[customer.pk]),
        {
            "form": "preferences",
            "preferences-contact_from": "18:00",
            "preferences-contact_until": "10:00",
        },
    )
    assert response.status_code == 400
    assert "must end after they start" in response.content.decode()


def test_booking_a_contact_over_the_cap_shows_why_and_when(rep_client, customer, noon):
    services.schedule_contact(
        customer_id=customer.pk,
        channel=Channel.SMS,
        kind=Kind.ADVERTISING,
        source="system",
        key="first",
    )
    response = rep_client.post(
        reverse("contacts:customer-settings", args=[customer.pk]),
        {
            "form": "schedule",
            "schedule-channel": "sms",
            "schedule-kind": "advertising",
            "booking_token": "t1",
        },
    )
    assert response.status_code == 400
    assert "SMS: already sent on 10 Mar; next allowed 9 Apr 12:00." in response.content.decode()


def test_the_settings_of_another_reps_customer_are_not_found(rep_client, other_rep):
    foreign = CustomerFactory(owner=other_rep)
    assert (
        rep_client.get(reverse("contacts:customer-settings", args=[foreign.pk])).status_code == 404
    )


def test_the_customer_page_panel_shows_the_log_and_the_refusals(rep, customer, noon):
    TouchFactory(
        customer=customer, by=rep, outcome="reached", notes="Talked about the new catalogue"
    )
    customer.consent_sms = False
    customer.save()
    with pytest.raises(Exception):  # noqa: B017, PT011 - the refusal itself is tested elsewhere
        services.schedule_contact(
            customer_id=customer.pk,
            channel=Channel.SMS,
            kind=Kind.ADVERTISING,
            source="system",
            key="k",
        )
    context = customer_contacts_context(customer=customer, user=rep)
    html = render_to_string("contacts/_partials/customer_contacts.html", context)
    assert "Talked about the new catalogue" in html
    assert "SMS: the customer has not agreed to be contacted this way." in html
    forecasts = {(f.channel, f.kind): f for f in context["forecasts"]}
    assert forecasts[("sms", "advertising")].next_allowed_at is None
    assert forecasts[("phone", "personal")].next_allowed_at > timezone.now() + timedelta(days=29)


def test_the_customer_panel_needs_a_fixed_number_of_queries(
    rep, noon, django_assert_max_num_queries
):
    customer = CustomerFactory(owner=rep)
    for days in range(15):
        TouchFactory(customer=customer, by=rep, at=timezone.now() - timedelta(days=days * 3))
    with django_assert_max_num_queries(14):
        render_to_string(
            "contacts/_partials/customer_contacts.html",
            customer_contacts_context(customer=customer, user=rep),
        )


def test_the_admin_pages_open(admin_client, customer, noon):
    TouchFactory(customer=customer)
    for name in (
        "caprule",
        "capoverride",
        "contactpreferences",
        "contactplan",
        "messagetemplate",
        "outboxmessage",
        "touch",
        "refusedtouch",
        "consentchange",
        "calllistentry",
        "feedback",
    ):
        assert admin_client.get(reverse(f"admin:contacts_{name}_changelist")).status_code == 200, (
            name
        )


def test_a_message_template_with_a_syntax_error_is_refused_in_the_admin(admin_client):
    from contacts.models import MessageTemplate

    template = MessageTemplate.objects.get(code="newsletter", channel="email", language="en")
    response = admin_client.post(
        reverse("admin:contacts_messagetemplate_change", args=[template.pk]),
        {
            "name": template.name,
            "code": template.code,
            "channel": "email",
            "language": "en",
            "kind": "content",
            "active": "on",
            "subject": "Hi {% if first_name %}",
            "body": "x",
        },
    )
    assert response.status_code == 200
    assert "Template error" in response.content.decode()


def test_the_customer_page_tag_renders_the_panel_for_the_request_user(rf, rep, customer, noon):
    from django.template import Context, Template

    TouchFactory(customer=customer, by=rep, notes="Asked about delivery times")
    request = rf.get("/")
    request.user = rep
    html = Template("{% load contacts_tags %}{% customer_contacts_panel customer %}").render(
        Context({"request": request, "customer": customer})
    )
    assert "Asked about delivery times" in html
    assert 'data-testid="customer-contacts"' in html


def test_the_dashboard_tag_counts_overdue_key_accounts(rf, manager, rep, noon):
    from django.template import Context, Template

    CustomerScoreFactory(customer=CustomerFactory(owner=rep), value_class="A")
    request = rf.get("/")
    request.user = manager
    html = Template("{% load contacts_tags %}{% overdue_key_accounts %}").render(
        Context({"request": request})
    )
    assert html == "1"


# --- Actions on the customer page -----------------------------------------------------------


def test_scheduling_from_the_customer_page_books_and_asks_the_panels_to_refresh(
    rep_client, customer, noon
):
    response = rep_client.post(
        reverse("contacts:customer-schedule", args=[customer.pk]),
        {"channel": "phone", "kind": "personal", "at": "2026-03-11T10:30", "booking_token": "b1"},
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "customer-changed"
    touch = Touch.objects.get(customer=customer)
    assert (touch.channel, touch.status, touch.source) == ("phone", "planned", "rep")
    assert timezone.localtime(touch.at).strftime("%Y-%m-%d %H:%M") == "2026-03-11 10:30"
    assert 'data-testid="action-notice"' in response.content.decode()


def test_a_cap_refusal_on_the_customer_page_says_why_and_offers_the_next_allowed_time(
    rep_client, customer, noon
):
    services.schedule_contact(
        customer_id=customer.pk, channel=Channel.SMS, kind=Kind.ADVERTISING, source="system",
        key="first",
    )
    response = rep_client.post(
        reverse("contacts:customer-schedule", args=[customer.pk]),
        {"channel": "sms", "kind": "advertising", "booking_token": "b2"},
        **HTMX,
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-testid="schedule-refusal"' in body
    assert "SMS: already sent on 10 Mar; next allowed 9 Apr 12:00." in body
    # The offer to book at that time carries the moment, in the form's own format.
    assert 'name="at" value="2026-04-09T12:00"' in body
    assert Touch.objects.filter(customer=customer).count() == 1
    booked = rep_client.post(
        reverse("contacts:customer-schedule", args=[customer.pk]),
        {"channel": "sms", "kind": "advertising", "at": "2026-04-09T12:00", "booking_token": "b3"},
        **HTMX,
    )
    assert booked.status_code == 200
    assert Touch.objects.filter(customer=customer).count() == 2


def test_a_consent_refusal_without_htmx_is_a_page_with_the_reason(rep_client, customer, noon):
    customer.consent_sms = False
    customer.save(update_fields=["consent_sms"])
    response = rep_client.post(
        reverse("contacts:customer-schedule", args=[customer.pk]),
        {"channel": "sms", "kind": "advertising", "booking_token": "b4"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "<html" in body
    assert 'data-testid="schedule-refusal"' in body
    assert not Touch.objects.filter(customer=customer).exists()


def test_scheduling_without_htmx_redirects_to_the_customer(rep_client, customer, noon):
    response = rep_client.post(
        reverse("contacts:customer-schedule", args=[customer.pk]),
        {"channel": "phone", "kind": "personal", "booking_token": "b5"},
    )
    assert response.status_code == 302
    assert response.url == customer.get_absolute_url()


def test_scheduling_in_the_past_or_on_an_unknown_channel_is_a_form_error(
    rep_client, customer, noon
):
    response = rep_client.post(
        reverse("contacts:customer-schedule", args=[customer.pk]),
        {"channel": "pigeon", "kind": "personal", "at": "2026-03-01T10:00"},
        **HTMX,
    )
    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {"channel", "at"}
    assert not Touch.objects.exists()


def test_another_reps_customer_cannot_be_scheduled(rep_client, other_rep, noon):
    foreign = CustomerFactory(owner=other_rep)
    url = reverse("contacts:customer-schedule", args=[foreign.pk])
    assert rep_client.get(url, **HTMX).status_code == 404
    assert rep_client.post(url, {"channel": "phone", "kind": "personal"}).status_code == 404
    assert not Touch.objects.exists()


def test_logging_a_call_from_the_customer_page_records_the_outcome(rep_client, customer, noon):
    response = rep_client.post(
        reverse("contacts:customer-log-call", args=[customer.pk]),
        {"outcome": "no_answer", "channel": "phone", "notes": "voicemail"},
        **HTMX,
    )
    assert response.status_code == 200
    touch = Touch.objects.get(customer=customer)
    assert (touch.status, touch.outcome, touch.notes) == ("done", "no_answer", "voicemail")
    missing = rep_client.post(
        reverse("contacts:customer-log-call", args=[customer.pk]),
        {"outcome": "callback"},
        **HTMX,
    )
    assert missing.status_code == 400
    assert "callback_at" in missing.context["form"].errors


def test_admin_edits_caps_and_plans_from_their_lists(client):
    from contacts.models import CapRule, ContactPlan
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    caps = client.get(reverse("admin:contacts_caprule_changelist"))
    assert caps.status_code == 200
    assert "at most 1 per 30 days" in caps.content.decode()
    formset = caps.context["cl"].formset
    data = {
        "form-TOTAL_FORMS": str(formset.total_form_count()),
        "form-INITIAL_FORMS": str(formset.initial_form_count()),
        "_save": "Save",
    }
    for index, form in enumerate(formset.forms):
        data[f"form-{index}-id"] = form.instance.pk
        data[f"form-{index}-max_count"] = form.instance.max_count or ""
        data[f"form-{index}-period_days"] = form.instance.period_days
        data[f"form-{index}-note"] = form.instance.note
    first = formset.forms[0].instance
    data["form-0-period_days"] = 45
    assert client.post(reverse("admin:contacts_caprule_changelist"), data).status_code == 302
    first.refresh_from_db()
    assert first.period_days == 45
    assert client.get(reverse("admin:contacts_contactplan_changelist")).status_code == 200
    assert ContactPlan.objects.exists()
    assert CapRule.objects.count() == formset.total_form_count()
