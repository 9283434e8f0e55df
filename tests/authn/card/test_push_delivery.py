"""Web Push delivery (idp/authn/card/push.py): a transient failure is tried again, a gone
subscription is forgotten, nothing is tried after the message's TTL.

A local push service answers a scripted series of statuses; the messages are really encrypted
(RFC 8291) and signed (VAPID, RFC 8292). A retry is scheduled through an injected ``schedule``
that records the wait and runs the retry at once (the server's runs it from a timer).
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

from idp.audit.models import AuditEvent
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


def _deliver(
    subscription: dict, *, ttl: float = 120.0, device_id: int = 0
) -> tuple[push.Outcome, list[float]]:
    waits: list[float] = []

    def now(wait: float, retry):
        waits.append(wait)
        return retry()

    outcome = push.deliver(
        push.Target(device_id, subscription),
        data=DATA,
        deadline=time.monotonic() + ttl,
        schedule=now,
    )
    return outcome, waits


def test_a_5xx_is_tried_again_after_a_back_off(service):
    _PushService.script = [(503, {}), (201, {})]
    outcome, waits = _deliver(_subscription(f"{service}/p"))
    assert outcome is push.Outcome.DELIVERED
    assert _PushService.hits == ["/p", "/p"]
    assert waits == [1.0]


def test_a_429_waits_what_retry_after_says_within_a_cap(service):
    _PushService.script = [(429, {"Retry-After": "2"}), (503, {"Retry-After": "3600"}), (201, {})]
    outcome, waits = _deliver(_subscription(f"{service}/p"))
    assert outcome is push.Outcome.DELIVERED
    assert waits == [2.0, 10.0]  # an hour is capped: the holder has moved on by then


@pytest.mark.parametrize(
    ("status", "retry_after"), [(503, "NaN"), (503, "inf"), (503, "-5"), (500, "60")]
)
def test_an_unusable_or_unasked_retry_after_falls_back_to_the_back_off(
    service, status, retry_after
):
    _PushService.script = [(status, {"Retry-After": retry_after}), (201, {})]
    outcome, waits = _deliver(_subscription(f"{service}/p"))
    assert outcome is push.Outcome.DELIVERED
    assert waits == [1.0]


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
    outcome, waits = _deliver(subscription, device_id=device.pk)
    assert outcome is push.Outcome.REFUSED
    assert _PushService.hits == ["/p"] and waits == []
    device.refresh_from_db()
    assert device.push == subscription


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_removed_from_its_device_only_and_journaled(service, status):
    professional = make_professional()
    gone_device, _ = enrol(professional, name="Old phone")
    same_endpoint, _ = enrol(professional, name="Copy")
    gone = _subscription(f"{service}/gone")
    CardDevice.objects.filter(pk__in=[gone_device.pk, same_endpoint.pk]).update(push=gone)
    _PushService.script = [(status, {})]
    outcome, waits = _deliver(gone, device_id=gone_device.pk)
    assert outcome is push.Outcome.GONE
    assert _PushService.hits == ["/gone"] and waits == []
    gone_device.refresh_from_db()
    same_endpoint.refresh_from_db()
    assert gone_device.push is None
    assert same_endpoint.push == gone  # another device's subscription is its own business
    assert (gone_device.status, same_endpoint.status) == ("active", "active")
    [event] = AuditEvent.objects.filter(tag="authn:card:push_gone")
    assert (event.actor, event.subject) == ("system:push", f"card_device:{gone_device.kid}")
    assert event.data == {"push_service": service.removeprefix("http://")}


def test_a_gone_answer_leaves_a_subscription_made_meanwhile(service):
    professional = make_professional()
    device, _ = enrol(professional)
    old, new = _subscription(f"{service}/old"), _subscription(f"{service}/new")
    CardDevice.objects.filter(pk=device.pk).update(push=new)  # the app subscribed again
    _PushService.script = [(410, {})]
    assert _deliver(old, device_id=device.pk)[0] is push.Outcome.GONE
    device.refresh_from_db()
    assert device.push == new
    assert not AuditEvent.objects.filter(tag="authn:card:push_gone").exists()


def test_a_malformed_subscription_is_refused_without_logging_it(service, caplog):
    bad = {"endpoint": f"{service}/p", "keys": {"p256dh": "not-a-point", "auth": "c2VjcmV0"}}
    outcome, waits = _deliver(bad, device_id=7)
    assert outcome is push.Outcome.REFUSED
    assert _PushService.hits == [] and waits == []
    assert "c2VjcmV0" not in caplog.text and "/p" not in caplog.text
    assert "device 7" in caplog.text


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
    targets = [
        push.Target(1, _subscription(f"{service}/a")),
        push.Target(2, _subscription(f"{service}/b")),
    ]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        push.notify(targets, {"x": 1})
    assert _PushService.hits == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert push.wait_for_background_deliveries(10)
    assert sorted(_PushService.hits) == ["/a", "/b"]


def test_the_server_retries_from_a_timer_not_a_sleeping_worker(service):
    _PushService.script = [(503, {"Retry-After": "1"}), (201, {})]
    target = push.Target(0, _subscription(f"{service}/p"))
    started = time.monotonic()
    first = push.deliver(target, data=DATA, deadline=time.monotonic() + 120)
    assert first is push.Outcome.RETRY  # scheduled, not waited for
    assert time.monotonic() - started < 1.0
    assert _PushService.hits == ["/p"]
    deadline = time.monotonic() + 10
    while len(_PushService.hits) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert push.wait_for_background_deliveries(10)
    assert _PushService.hits == ["/p", "/p"]
