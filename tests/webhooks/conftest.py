"""A real HTTP server on 127.0.0.1 that plays the receiving system; nothing leaves the machine."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webhooks.models import Event, WebhookEndpoint


class Receiver:
    """What the receiver answers, request by request, and what it received."""

    def __init__(self) -> None:
        # Each answer: (status, seconds to wait before answering). The last one repeats.
        self.answers: list[tuple[int, float]] = [(200, 0)]
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.url = ""

    def next_answer(self) -> tuple[int, float]:
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def receiver():
    script = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            status, delay = script.next_answer()
            with script.lock:
                script.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up waiting

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/retention?source=crm"
    yield script
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_TIMEOUT = 2
    settings.WEBHOOKS_MAX_ATTEMPTS = 3
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 60


@pytest.fixture
def endpoint(receiver, db) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name="Shop", url=receiver.url, events=list(Event.values), secret="s3cret-for-tests"
    )
