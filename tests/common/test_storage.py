"""Production's static storage: whitenoise's manifest URLs, each worked out once."""

import pytest
from django.core.management import call_command
from whitenoise.storage import CompressedManifestStaticFilesStorage

from common.storage import StaticFilesStorage


@pytest.fixture
def collected(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "common.storage.StaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    return tmp_path


def test_the_same_urls_as_whitenoise_kept_after_the_first(collected):
    ours, theirs = StaticFilesStorage(), CompressedManifestStaticFilesStorage()
    url = ours.url("css/retention.css")
    assert url == theirs.url("css/retention.css")
    assert url != "/static/css/retention.css"  # the hashed name
    ours.hashed_files.clear()  # were the manifest asked again, nothing would be found
    assert ours.url("css/retention.css") == url


def test_a_missing_file_still_fails(collected):
    storage = StaticFilesStorage()
    for _ in range(2):
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            storage.url("css/missing.css")
