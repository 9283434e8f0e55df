"""Web Push delivery (idp/authn/card/push.py): a transient failure is tried again, a gone
subscription is forgotten, nothing is tried after the message's TTL.

A local push service answers a scripted series of statuses; the messages are really encrypted
(RFC 8291) and signed (VAPID, RFC 8292). The waits between attempts go through an injected
``sleep`` that records them instead of sleeping.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from idp.authn.card import push
from idp.authn.card.models import CardDevice
from tests.accounts.factories import make_professional
from tests.authn.card.helpers import enrol, use_vapid_key

pytestmark = pytest.mark.django_db
DATA = '{"type":"challenge","id":"c1"}'


class _PushService(BaseHTTPRequestHandler):
    #: (status, extra headers) answered in turn; the last one repeats.
    script: list[tuple[int, dict[str, str]]] = []
    hits: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers = self.script[min(len(self.hits), len(self.script) - 1)]
        self.hits.append(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service(settings, tmp_path):
    use_vapid_key(settings, tmp_path)
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True  # the test's push service is on loopback
    settings.IDP_CARD_PUSH_BACKEND = "webpush"
    _PushService.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PushService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _subscription(endpoint: str) -> dict:
    phone = ec.generate_private_key(ec.SECP256R1())
    p256dh = phone.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "endpoint": endpoint,
        "keys": {
            "p256dh": base64.urlsafe_b64encode(p256dh).rstrip(b"=").decode(),
            "auth": base64.urlsafe_b64encode(b"0123456789abcdef").rstrip(b"=").decode(),
        },
    }


def _deliver(subscription: dict, *, ttl: float = 120.0) -> tuple[push.Outcome, list[float]]:
    waits: list[float] = []
    outcome = push.deliver(
        subscription, data=DATA, deadline=time.monotonic() + ttl, sleep=waits.append
    )
    return outcome, waits


def test_a_5xx_is_tried_again_after_a_back_off(service):
    _PushService.script = [(503, {}), (201, {})]
    outcome, waits = _deliver(_subscription(f"{service}/p"))
    assert outcome is push.Outcome.DELIVERED
    assert _PushService.hits == ["/p", "/p"]
    assert waits == [1.0]


def test_a_429_waits_what_retry_after_says_within_a_cap(service):
    _PushService.script = [(429, {"Retry-After": "2"}), (429, {"Retry-After": "3600"}), (201, {})]
    outcome, waits = _deliver(_subscription(f"{service}/p"))
    assert outcome is push.Outcome.DELIVERED
    assert waits == [2.0, 10.0]  # an hour is capped: the holder has moved on by then


def test_a_failure_that_lasts_gives_up_after_three_attempts(service):
    _PushService.script = [(500, {})]
    outcome, waits = _deliver(_subscription(f"{service}/p"))
    assert outcome is push.Outcome.RETRY
    assert len(_PushService.hits) == push.ATTEMPTS == 3
    assert waits == [1.0, 3.0]


def test_nothing_is_tried_after_the_ttl(service):
    _PushService.script = [(503, {})]
    outcome, waits = _deliver(_subscription(f"{service}/p"), ttl=0.5)
    assert outcome is push.Outcome.RETRY
    assert _PushService.hits == ["/p"] and waits == []


def test_a_message_queued_past_its_ttl_is_not_sent(service):
    _PushService.script = [(201, {})]
    outcome, waits = _deliver(_subscription(f"{service}/p"), ttl=-1.0)
    assert outcome is push.Outcome.RETRY
    assert _PushService.hits == [] and waits == []


def test_a_refusal_is_not_tried_again_and_the_subscription_is_kept(service):
    professional = make_professional()
    device, _phone = enrol(professional)
    subscription = _subscription(f"{service}/p")
    CardDevice.objects.filter(pk=device.pk).update(push=subscription)
    _PushService.script = [(400, {})]
    outcome, waits = _deliver(subscription)
    assert outcome is push.Outcome.REFUSED
    assert _PushService.hits == ["/p"] and waits == []
    device.refresh_from_db()
    assert device.push == subscription


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_removed_from_its_device_only(service, status):
    professional = make_professional()
    gone_device, _ = enrol(professional, name="Old phone")
    other_device, _ = enrol(professional, name="New phone")
    gone, other = _subscription(f"{service}/gone"), _subscription(f"{service}/other")
    CardDevice.objects.filter(pk=gone_device.pk).update(push=gone)
    CardDevice.objects.filter(pk=other_device.pk).update(push=other)
    _PushService.script = [(status, {})]
    outcome, waits = _deliver(gone)
    assert outcome is push.Outcome.GONE
    assert _PushService.hits == ["/gone"] and waits == []
    gone_device.refresh_from_db()
    other_device.refresh_from_db()
    assert gone_device.push is None
    assert other_device.push == other
    assert (gone_device.status, other_device.status) == ("active", "active")


def test_a_refused_connection_is_tried_again(service):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome, waits = _deliver(_subscription(f"http://127.0.0.1:{port}/p"))
    assert outcome is push.Outcome.RETRY
    assert waits == [1.0, 3.0]


def test_notify_delivers_after_the_commit_through_the_background_pool(
    service, django_capture_on_commit_callbacks
):
    _PushService.script = [(201, {})]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        push.notify([_subscription(f"{service}/a"), _subscription(f"{service}/b")], {"x": 1})
    assert _PushService.hits == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert push.wait_for_background_deliveries(10)
    assert sorted(_PushService.hits) == ["/a", "/b"]
