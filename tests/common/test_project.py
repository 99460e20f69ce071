import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from common.csv import neutralise_cell
from common.roles import ACCOUNT_REP, LOYALTY_ADMIN, SALES_MANAGER

pytestmark = pytest.mark.django_db


def test_role_groups_exist_with_their_permissions():
    manager = Group.objects.get(name=SALES_MANAGER)
    rep = Group.objects.get(name=ACCOUNT_REP)
    assert manager.permissions.filter(codename="view_all_customers").exists()
    assert manager.permissions.filter(codename="reassign_customers").exists()
    assert not rep.permissions.filter(codename="view_all_customers").exists()
    assert Group.objects.filter(name=LOYALTY_ADMIN).exists()


def test_healthz_reports_the_database_and_in_process_tasks(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "in-process"}}


def test_healthz_is_503_when_the_broker_is_unreachable(client, settings):
    from retention.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get(reverse("healthz"))
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "error"


@pytest.mark.parametrize("value", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx"])
def test_csv_cells_that_spreadsheets_evaluate_are_neutralised(value):
    assert neutralise_cell(value) == "'" + value


def test_language_switch_sets_russian(client, rep):
    client.force_login(rep)
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    body = client.get(reverse("home")).content.decode()
    assert "Клиенты" in body
