"""Fixtures of the contacts tests: a fixed daytime clock, SMS kept in memory, contacts' URLs."""

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
import time_machine

from contacts import sms

MOSCOW = ZoneInfo("Europe/Moscow")


def moscow(*args) -> datetime:
    return datetime(*args, tzinfo=MOSCOW)


@pytest.fixture(autouse=True)
def _contacts_settings(settings):
    settings.SMS_BACKEND = "contacts.sms.LocMemSmsBackend"
    settings.CONTACTS_CONTACT_HOURS = ("09:00", "21:00")
    settings.PUBLIC_BASE_URL = "https://crm.example.com"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def noon():
    """A Tuesday noon in Moscow (inside everyone's contact hours), the clock standing still."""
    with time_machine.travel(moscow(2026, 3, 10, 12, 0), tick=False) as traveller:
        yield traveller


class ProviderScript:
    """What the fake SMS provider answers, request by request, and what it received."""

    def __init__(self) -> None:
        # Each answer: (status, json body, seconds to wait before answering). The last one repeats.
        self.answers: list[tuple[int, dict, float]] = [(200, {"id": "prov-1"}, 0)]
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        self.lock = threading.Lock()

    def next_answer(self) -> tuple[int, dict, float]:
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def sms_provider():
    """A real HTTP server on 127.0.0.1 that plays an SMS provider; tests never reach the network."""
    script = ProviderScript()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            request = {
                "path": self.path,
                "headers": dict(self.headers.items()),
                "json": json.loads(self.rfile.read(length) or b"{}"),
            }
            status, body, delay = script.next_answer()
            with script.lock:
                script.requests.append(request)
                if 200 <= status < 300:
                    script.accepted.append(request)
            if delay:
                time.sleep(delay)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{server.server_address[1]}/messages"
    yield script
    server.shutdown()
    server.server_close()
