from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers import imports
from customers.models import ImportJob, Purchase
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def buyers():
    return [CustomerFactory(external_id="К-001"), CustomerFactory(external_id="К-002")]


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_manager_uploads_purchases_and_sees_the_result_and_the_errors(
    manager_client, manager, buyers, django_capture_on_commit_callbacks
):
    content = (DATA / "purchases_1c_cp1251.csv").read_bytes()

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            reverse("customers:import-list"),
            {"kind": "purchases", "file": upload("Продажи март.csv", content)},
        )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job.get_absolute_url()
    assert (job.status, job.created_by, job.original_name) == (
        ImportJob.Status.DONE, manager, "Продажи март.csv",
    )
    assert (job.created_count, job.error_count) == (4, 4)
    assert Purchase.objects.count() == 4

    page = manager_client.get(job.get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="count-created">4<' in html
    assert 'data-testid="count-errors">4<' in html
    assert "No customer with this id." in html
    assert "hx-get" not in html  # finished: no more polling

    report = manager_client.get(reverse("customers:import-errors", args=[job.pk]))
    body = b"".join(report.streaming_content).decode("utf-8-sig")
    assert report.status_code == 200
    assert report["Content-Disposition"].startswith("attachment")
    assert body.splitlines()[0] == "row,column,value,message"
    assert [line.split(",")[0] for line in body.splitlines()[1:]] == ["4", "5", "6", "8"]

    listing = manager_client.get(reverse("customers:import-list"))
    assert "Продажи март.csv" in listing.content.decode()


def test_a_running_job_polls_its_progress_partial(manager_client, manager):
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.CUSTOMERS, original_name="big.csv", status=ImportJob.Status.RUNNING,
        total_rows=200, processed_rows=50, created_by=manager,
    )
    progress_url = reverse("customers:import-progress", args=[job.pk])

    page = manager_client.get(job.get_absolute_url()).content.decode()
    partial = manager_client.get(progress_url).content.decode()

    assert f'hx-get="{progress_url}"' in page
    assert 'hx-trigger="every 1s"' in page
    assert "<html" not in partial
    assert 'aria-valuenow="25"' in partial
    assert f'hx-get="{progress_url}"' in partial


def test_a_failed_job_shows_why(manager_client):
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.PURCHASES, original_name="x.csv", status=ImportJob.Status.FAILED,
        failure="Required columns are missing: amount.",
    )
    html = manager_client.get(job.get_absolute_url()).content.decode()
    assert "Required columns are missing: amount." in html


def test_a_job_without_errors_has_no_report_to_download(manager_client, media):
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.CUSTOMERS, original_name="x.csv", status=ImportJob.Status.DONE
    )
    response = manager_client.get(reverse("customers:import-errors", args=[job.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "url_name", ["import-list", "import-detail", "import-progress", "import-errors"]
)
def test_a_rep_may_not_import_or_see_imports(rep_client, url_name):
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.CUSTOMERS, original_name="x.csv", status=ImportJob.Status.DONE
    )
    args = [] if url_name == "import-list" else [job.pk]
    assert rep_client.get(reverse(f"customers:{url_name}", args=args)).status_code == 403


def test_a_rep_cannot_upload(rep_client):
    response = rep_client.post(
        reverse("customers:import-list"),
        {"kind": "customers", "file": upload("c.csv", b"id;name\nA;Ann\n")},
    )
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("customers:import-list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_too_large_file_is_a_form_error(manager_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    response = manager_client.post(
        reverse("customers:import-list"),
        {"kind": "customers", "file": upload("c.csv", b"id;name\nA;Ann\n")},
    )
    assert response.status_code == 200
    assert "the limit is 10\xa0bytes" in response.context["form"].errors["file"][0]
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("name", ["clients.xlsx", "clients", "clients.csv.exe"])
def test_a_file_of_the_wrong_type_is_a_form_error(manager_client, name):
    response = manager_client.post(
        reverse("customers:import-list"),
        {"kind": "customers", "file": upload(name, b"id;name\nA;Ann\n")},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "Upload a .csv or .txt file; save spreadsheets as CSV first."
    ]
    assert not ImportJob.objects.exists()


def test_an_unreadable_upload_ends_as_a_failed_job(manager_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(
            reverse("customers:import-list"),
            {"kind": "customers", "file": upload("c.csv", b"foo;bar\n1;2\n")},
        )
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert "Required columns are missing" in job.failure


def test_the_upload_only_enqueues_after_commit(manager_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        manager_client.post(
            reverse("customers:import-list"),
            {"kind": "customers", "file": upload("c.csv", b"id;name\nA;Ann\n")},
        )
    assert len(callbacks) == 1
    assert ImportJob.objects.get().status == ImportJob.Status.PENDING
    callbacks[0]()
    assert ImportJob.objects.get().status == ImportJob.Status.DONE


def test_the_list_shows_recent_jobs_newest_first(manager_client, manager):
    ImportJob.objects.create(kind=ImportJob.Kind.CUSTOMERS, original_name="old.csv")
    ImportJob.objects.create(
        kind=ImportJob.Kind.CUSTOMERS, original_name="new.csv", created_by=manager
    )
    jobs = list(manager_client.get(reverse("customers:import-list")).context["jobs"])
    assert [job.original_name for job in jobs] == ["new.csv", "old.csv"]
    assert list(imports.recent_import_jobs(limit=1)) == jobs[:1]
