"""SMS backends: the HTTP provider backend against a local server, the development backends."""

import io
import socket

import pytest

from contacts import sms
from contacts.delivery import AmbiguousDeliveryError, PermanentDeliveryError, TemporaryDeliveryError


def test_http_backend_posts_json_with_token_and_idempotency_key(sms_provider):
    sms_provider.answers = [(201, {"id": "abc-42"}, 0)]
    backend = sms.HttpSmsBackend(url=sms_provider.url, token="secret-token", sender="Shop")
    provider_id = backend.send(to="+79001234567", body="Hello", key="outbox-key-1")
    assert provider_id == "abc-42"
    [request] = sms_provider.requests
    assert request["json"] == {
        "to": "+79001234567",
        "text": "Hello",
        "sender": "Shop",
        "reference": "outbox-key-1",
    }
    assert request["headers"]["Authorization"] == "Bearer secret-token"
    assert request["headers"]["Idempotency-Key"] == "outbox-key-1"


def test_http_backend_reads_settings(sms_provider, settings):
    settings.SMS_HTTP_URL = sms_provider.url
    settings.SMS_HTTP_TOKEN = "from-settings"
    settings.SMS_BACKEND = "contacts.sms.HttpSmsBackend"
    sms.get_sms_backend().send(to="+7900", body="x", key="k")
    assert sms_provider.requests[0]["headers"]["Authorization"] == "Bearer from-settings"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_provider_errors_and_throttling_are_temporary(sms_provider, status):
    sms_provider.answers = [(status, {"error": "busy"}, 0)]
    with pytest.raises(TemporaryDeliveryError):
        sms.HttpSmsBackend(url=sms_provider.url).send(to="+7900", body="x", key="k")


@pytest.mark.parametrize("status", [400, 401, 422])
def test_rejected_requests_are_permanent(sms_provider, status):
    sms_provider.answers = [(status, {"error": "bad number"}, 0)]
    with pytest.raises(PermanentDeliveryError):
        sms.HttpSmsBackend(url=sms_provider.url).send(to="+7900", body="x", key="k")


def test_an_answer_that_never_comes_is_ambiguous(sms_provider):
    sms_provider.answers = [(200, {"id": "late"}, 1.5)]
    with pytest.raises(AmbiguousDeliveryError):
        sms.HttpSmsBackend(url=sms_provider.url, timeout=0.3).send(to="+7900", body="x", key="k")


def test_a_provider_that_cannot_be_reached_is_temporary():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(TemporaryDeliveryError):
        sms.HttpSmsBackend(url=f"http://127.0.0.1:{free_port}/x", timeout=1).send(
            to="+7900", body="x", key="k"
        )


def test_http_backend_refuses_a_non_http_url():
    with pytest.raises(PermanentDeliveryError):
        sms.HttpSmsBackend(url="file:///etc/passwd")


def test_console_backend_writes_the_message():
    stream = io.StringIO()
    provider_id = sms.ConsoleSmsBackend(stream=stream).send(to="+7900", body="Hi there", key="k1")
    assert "Hi there" in stream.getvalue()
    assert provider_id.startswith("console-")


def test_file_backend_writes_one_file_per_message(tmp_path):
    backend = sms.FileSmsBackend(path=str(tmp_path))
    backend.send(to="+7900", body="one", key="k1")
    backend.send(to="+7901", body="two", key="k2")
    texts = sorted(path.read_text() for path in tmp_path.iterdir())
    assert len(texts) == 2
    assert "one" in texts[0] or "one" in texts[1]
