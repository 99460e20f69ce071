"""The audit trail: who did what and when, written where it happens, never changed afterwards."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from common.audit import (
    LOYALTY_CONFIG_MODELS,
    LOYALTY_RECORD_MODELS,
    AuditAction,
    client_ip,
    record_audit_event,
)
from common.models import AuditEvent, AuditTrailIsAppendOnlyError
from contacts.models import ConsentChange
from contacts.services import set_consent
from customers import services
from loyalty.models import Partner, Reward, Tier
from tests.factories import (
    CustomerFactory,
    LoyaltyAdminFactory,
    RepFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PASSWORD = "pass-for-tests-1"


def events(action: str):
    return AuditEvent.objects.filter(action=action).order_by("id")


# --- not editable -----------------------------------------------------------------------------


def test_a_stored_event_cannot_be_changed_or_deleted(manager):
    event = record_audit_event(action=AuditAction.EXPORT, actor=manager)
    event.details = {"forged": True}
    with pytest.raises(AuditTrailIsAppendOnlyError):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnlyError):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(details={"forged": True})
    with pytest.raises(AuditTrailIsAppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).details == {}


def test_the_admin_shows_events_but_offers_no_way_to_add_change_or_delete_them(client, manager):
    event = record_audit_event(action=AuditAction.EXPORT, actor=manager)
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    assert client.get(reverse("admin:common_auditevent_changelist")).status_code == 200
    assert client.get(reverse("admin:common_auditevent_add")).status_code == 403
    change_url = reverse("admin:common_auditevent_change", args=[event.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(change_url, {"actor_label": "someone else"}).status_code == 403
    delete_url = reverse("admin:common_auditevent_delete", args=[event.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).actor_label == manager.username


def test_deleting_a_customer_keeps_its_events_and_forgets_only_the_link(manager):
    customer = CustomerFactory()
    customer_id = customer.pk
    event = record_audit_event(action=AuditAction.EXPORT, actor=manager, obj=customer)
    customer.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.customer_id is None
    assert (event.object_type, event.object_id) == ("customers.customer", str(customer_id))


@pytest.mark.postgres
def test_postgresql_itself_refuses_to_change_or_delete_events(manager):
    event = record_audit_event(action=AuditAction.EXPORT, actor=manager)
    table = AuditEvent._meta.db_table
    for sql in (
        f"UPDATE {table} SET actor_label = 'forged' WHERE id = %s",
        # Clearing the user is allowed only on its own, not as cover for another change.
        f"UPDATE {table} SET actor_id = NULL, details = '{{\"x\": 1}}'::jsonb WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).actor_label == manager.username


@pytest.mark.postgres
def test_postgresql_lets_a_deleted_user_or_customer_clear_only_the_link(manager):
    customer = CustomerFactory()
    event = record_audit_event(action=AuditAction.EXPORT, actor=manager, obj=customer)
    customer.delete()
    manager.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_id, event.customer_id, event.actor_label) == (None, None, "manager")


# --- where the address comes from ---------------------------------------------------------------


def test_the_client_address_is_the_peer_unless_proxies_are_trusted(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.AXES_IPWARE_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.5"
    # One proxy: its own entry (the rightmost) is the client; what the client wrote is ignored.
    settings.AXES_IPWARE_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"
    settings.AXES_IPWARE_PROXY_COUNT = 3
    assert client_ip(request) == "10.0.0.5"
    assert client_ip(rf.get("/", REMOTE_ADDR="not an address")) is None


# --- what is recorded ---------------------------------------------------------------------------


def test_logins_logouts_and_failed_logins_are_recorded_with_the_address(client, rep):
    client.post(
        reverse("login"), {"username": "rep", "password": "wrong"}, REMOTE_ADDR="192.0.2.10"
    )
    client.post(
        reverse("login"), {"username": "rep", "password": PASSWORD}, REMOTE_ADDR="192.0.2.10"
    )
    client.post(reverse("logout"), REMOTE_ADDR="192.0.2.10")
    failed, login, logout = (
        events(AuditAction.LOGIN_FAILED).get(),
        events(AuditAction.LOGIN).get(),
        events(AuditAction.LOGOUT).get(),
    )
    assert (failed.actor, failed.actor_label, failed.ip_address) == (None, "rep", "192.0.2.10")
    assert failed.details == {"locked_out": False}
    assert (login.actor, login.ip_address) == (rep, "192.0.2.10")
    assert (logout.actor, logout.ip_address) == (rep, "192.0.2.10")


def test_a_failed_login_is_nobodys_even_when_someone_is_logged_in(client, rep, manager):
    # The main login page sends logged-in users home; the admin's asks non-staff users to log in.
    client.force_login(manager)
    client.post(reverse("admin:login"), {"username": "rep", "password": "wrong"})
    failed = events(AuditAction.LOGIN_FAILED).get()
    assert (failed.actor, failed.actor_label) == (None, "rep")


def test_a_reassignment_records_one_event_per_customer_moved(
    manager_client, manager, rep, other_rep
):
    moved = [CustomerFactory(owner=rep), CustomerFactory(owner=rep)]
    stays = CustomerFactory(owner=other_rep)
    response = manager_client.post(
        reverse("customers:reassign"), {"from_rep": rep.pk, "to_rep": other_rep.pk}
    )
    assert response.status_code == 302
    recorded = events(AuditAction.CUSTOMERS_REASSIGNED)
    assert sorted(recorded.values_list("customer_id", flat=True)) == sorted(c.pk for c in moved)
    assert {event.actor for event in recorded} == {manager}
    assert all(
        event.details == {"to_owner_id": other_rep.pk, "moved_together": 2} for event in recorded
    )
    assert all(event.ip_address == "127.0.0.1" for event in recorded)
    assert not recorded.filter(customer=stays).exists()


def test_a_failed_reassignment_leaves_no_event(manager):
    customer = CustomerFactory()
    to_rep = RepFactory()

    def reassign_then_fail():
        with transaction.atomic():
            services.reassign_customers(
                from_rep_id=customer.owner_id,
                to_rep_id=to_rep.pk,
                customer_ids=[customer.pk],
                by=manager,
            )
            raise RuntimeError("the request failed after the reassignment")

    with pytest.raises(RuntimeError):
        reassign_then_fail()
    assert not events(AuditAction.CUSTOMERS_REASSIGNED).exists()


def test_a_consent_change_is_recorded_with_its_source_and_who_made_it(rep):
    customer = CustomerFactory(owner=rep, consent_sms=True)
    set_consent(
        customer_id=customer.pk,
        channel="sms",
        granted=False,
        source=ConsentChange.Source.REP,
        by=rep,
        note="asked on the phone",
    )
    event = events(AuditAction.CONSENT_CHANGED).get()
    assert (event.actor, event.customer_id) == (rep, customer.pk)
    assert event.details == {"channel": "sms", "granted": False, "source": "rep"}
    assert event.object_type == "contacts.consentchange"


def test_an_import_records_its_start_and_end_for_whoever_uploaded_it(
    manager_client, manager, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    CustomerFactory(external_id="K-1")
    content = "number;customer;date;amount\nP-1;K-1;01.03.2025;100,50\nP-2;K-9;01.03.2025;1\n"
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(
            reverse("customers:import-list"),
            {
                "kind": "purchases",
                "file": SimpleUploadedFile("sales.csv", content.encode(), content_type="text/csv"),
            },
        )
    started, finished = (
        events(AuditAction.IMPORT_STARTED).get(),
        events(AuditAction.IMPORT_FINISHED).get(),
    )
    assert started.actor == finished.actor == manager
    assert started.object_type == finished.object_type == "customers.importjob"
    assert started.object_id == finished.object_id
    assert finished.details["kind"] == "purchases"
    assert finished.details["status"] == "done"
    assert (finished.details["rows"], finished.details["created"]) == (2, 1)
    assert finished.details["error_rows"] == 1


def test_an_export_is_recorded_with_its_filters_but_not_the_search_text(manager_client, manager):
    CustomerFactory(name="Ivan Petrov")
    response = manager_client.get(
        reverse("customers:export"), {"q": "Ivan Petrov", "stage": "regular"}
    )
    b"".join(response.streaming_content)
    event = events(AuditAction.EXPORT).get()
    assert event.actor == manager
    assert event.details == {"filters": {"stage": "regular", "q": "(text search)"}}
    assert "Petrov" not in str(event.details)


# --- loyalty configuration ----------------------------------------------------------------------


def test_every_loyalty_model_is_either_configuration_or_a_record():
    from django.apps import apps

    names = {model.__name__ for model in apps.get_app_config("loyalty").get_models()}
    assert set(LOYALTY_CONFIG_MODELS) | set(LOYALTY_RECORD_MODELS) == names, (
        "classify loyalty's new models in common.audit: configuration (audited on every change) "
        "or records written by services"
    )
    assert not set(LOYALTY_CONFIG_MODELS) & set(LOYALTY_RECORD_MODELS)


@pytest.fixture
def loyalty_admin_client(client):
    admin = LoyaltyAdminFactory(username="points_admin", is_staff=True)
    client.force_login(admin)
    client.user = admin
    return client


def test_a_tier_changed_in_the_admin_is_recorded_with_what_changed_and_who(loyalty_admin_client):
    tier = Tier.objects.order_by("order").first()
    old_spend = tier.qualifying_spend
    response = loyalty_admin_client.post(
        reverse("admin:loyalty_tier_change", args=[tier.pk]),
        {
            "name": tier.name,
            "order": tier.order,
            "qualifying_spend": str(old_spend + Decimal("1000")),
            "earn_multiplier": str(tier.earn_multiplier),
            "discount_percent": str(tier.discount_percent),
            "perks": tier.perks,
        },
    )
    assert response.status_code == 302
    event = events(AuditAction.LOYALTY_CONFIG_CHANGED).get()
    assert event.actor == loyalty_admin_client.user
    assert (event.object_type, event.object_id) == ("loyalty.tier", str(tier.pk))
    assert event.details["operation"] == "changed"
    assert event.details["changes"] == {
        "qualifying_spend": [str(old_spend), str(old_spend + Decimal("1000"))]
    }
    assert event.ip_address == "127.0.0.1"


def test_added_and_deleted_loyalty_settings_are_recorded(loyalty_admin_client):
    response = loyalty_admin_client.post(
        reverse("admin:loyalty_reward_add"),
        {
            "name": "Free delivery",
            "description": "",
            "kind": Reward.Kind.VOUCHER,
            "cost": "300",
            "active": "on",
        },
    )
    assert response.status_code == 302
    partner = Partner.objects.create(name="Car rental", earn_rate=Decimal("0.2"))
    partner.delete()
    added, created_partner, deleted = events(AuditAction.LOYALTY_CONFIG_CHANGED)
    assert added.details["operation"] == "created"
    assert added.details["changes"]["cost"] == [None, 300]
    assert added.actor == loyalty_admin_client.user
    assert created_partner.object_type == "loyalty.partner"
    assert deleted.details["operation"] == "deleted"
    assert deleted.details["values"]["name"] == "Car rental"


def test_saving_loyalty_settings_without_a_change_records_nothing():
    tier = Tier.objects.order_by("order").first()
    tier.save()
    assert not events(AuditAction.LOYALTY_CONFIG_CHANGED).exists()


# --- the managers' page ------------------------------------------------------------------------


@pytest.fixture
def trail(manager, rep):
    customer = CustomerFactory(owner=rep)
    with time_machine.travel(timezone.now() - timedelta(days=10)):
        old = record_audit_event(action=AuditAction.LOGIN, actor=rep)
    recent = [
        record_audit_event(action=AuditAction.EXPORT, actor=manager),
        record_audit_event(action=AuditAction.PERSONAL_DATA_EXPORTED, actor=manager, obj=customer),
        record_audit_event(action=AuditAction.LOGIN, actor=manager),
    ]
    return {"old": old, "recent": recent, "customer": customer}


def shown(response, trail) -> list[int]:
    """The trail's events on the page, in page order (logging the test client in adds others)."""
    ours = {trail["old"].pk, *(event.pk for event in trail["recent"])}
    return [event.pk for event in response.context["events"] if event.pk in ours]


def test_managers_see_the_trail_newest_first_and_filter_it(manager_client, manager, rep, trail):
    url = reverse("customers:audit")

    def page(**filters):
        response = manager_client.get(url, filters)
        assert response.status_code == 200
        return shown(response, trail)

    old, (export, personal, login) = trail["old"].pk, (event.pk for event in trail["recent"])
    assert page() == [login, personal, export, old]
    assert page(action="login") == [login, old]
    assert page(actor=rep.pk) == [old]
    assert page(customer=trail["customer"].pk) == [personal]
    assert page(since=(timezone.localdate() - timedelta(days=1)).isoformat()) == [
        login,
        personal,
        export,
    ]
    assert page(until=(timezone.localdate() - timedelta(days=5)).isoformat()) == [old]


def test_the_trail_is_paginated_with_a_bounded_number_of_queries(
    manager_client, manager, django_assert_max_num_queries
):
    customers = CustomerFactory.create_batch(3)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            action=AuditAction.EXPORT,
            actor=manager,
            actor_label="manager",
            customer=customers[i % 3],
        )
        for i in range(120)
    )
    with django_assert_max_num_queries(12):
        response = manager_client.get(reverse("customers:audit"))
    assert len(response.context["events"]) == 50
    assert response.context["paginator"].count == AuditEvent.objects.count() >= 120
    assert len(manager_client.get(reverse("customers:audit"), {"page": 3}).context["events"]) > 0


def test_reps_do_not_see_the_trail(rep_client):
    assert rep_client.get(reverse("customers:audit")).status_code == 403


def test_loyalty_admins_do_not_see_the_trail(client):
    client.force_login(LoyaltyAdminFactory())
    assert client.get(reverse("customers:audit")).status_code == 403


def test_bad_filters_are_ignored_rather_than_failing(manager_client, trail):
    response = manager_client.get(
        reverse("customers:audit"), {"customer": "x", "since": "yesterday"}
    )
    assert response.status_code == 200
    assert len(shown(response, trail)) == 4


def test_superusers_see_the_trail(client, trail):
    client.force_login(UserFactory(username="root", is_superuser=True))
    assert len(shown(client.get(reverse("customers:audit")), trail)) == 4
