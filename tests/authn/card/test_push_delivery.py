"""Web Push delivery (idp/authn/card/push.py): a transient failure is tried again, a gone
subscription is forgotten, nothing is tried after the message's TTL.

A local push service (tests/oidc/logout_receiver.py) answers a scripted series of statuses, then
200; the messages are really encrypted (RFC 8291) and signed (VAPID, RFC 8292). A retry is
scheduled through an injected ``schedule`` that records the wait and runs the retry at once (the
server's runs it from a timer).
"""

from __future__ import annotations

import socket
import time

import pytest

from idp.audit.models import AuditEvent
from idp.authn.card import push
from idp.authn.card.models import CardDevice
from tests.accounts.factories import make_professional
from tests.authn.card.helpers import enrol, use_vapid_key
from tests.authn.card.helpers import push_subscription as _subscription
from tests.oidc.logout_receiver import LogoutReceiver

pytestmark = pytest.mark.django_db
DATA = '{"type":"challenge","id":"c1"}'


@pytest.fixture
def receiver(settings, tmp_path):
    use_vapid_key(settings, tmp_path)
    settings.IDP_BACKCHANNEL_ALLOW_PRIVATE = True  # the test's push service is on loopback
    settings.IDP_CARD_PUSH_BACKEND = "webpush"
    receiver = LogoutReceiver()
    yield receiver
    receiver.close()


def _answers(receiver: LogoutReceiver, *statuses: tuple[int, dict[str, str]]) -> None:
    receiver.script.extend((status, 0, headers) for status, headers in statuses)


def _hits(receiver: LogoutReceiver) -> list[str]:
    return [received.path for received in receiver.received]


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


def test_a_5xx_is_tried_again_after_a_back_off(receiver):
    _answers(receiver, (503, {}))
    outcome, waits = _deliver(_subscription(receiver.url("/p")))
    assert outcome is push.Outcome.DELIVERED
    assert _hits(receiver) == ["/p", "/p"]
    assert waits == [1.0]


def test_a_429_waits_what_retry_after_says_within_a_cap(receiver):
    _answers(receiver, (429, {"Retry-After": "2"}), (503, {"Retry-After": "3600"}))
    outcome, waits = _deliver(_subscription(receiver.url("/p")))
    assert outcome is push.Outcome.DELIVERED
    assert waits == [2.0, 10.0]  # an hour is capped: the holder has moved on by then


@pytest.mark.parametrize(
    ("status", "retry_after"), [(503, "NaN"), (503, "inf"), (503, "-5"), (500, "60")]
)
def test_an_unusable_or_unasked_retry_after_falls_back_to_the_back_off(
    receiver, status, retry_after
):
    _answers(receiver, (status, {"Retry-After": retry_after}))
    outcome, waits = _deliver(_subscription(receiver.url("/p")))
    assert outcome is push.Outcome.DELIVERED
    assert waits == [1.0]


def test_a_failure_that_lasts_gives_up_after_three_attempts(receiver):
    _answers(receiver, *[(500, {})] * push.ATTEMPTS)
    outcome, waits = _deliver(_subscription(receiver.url("/p")))
    assert outcome is push.Outcome.RETRY
    assert len(_hits(receiver)) == push.ATTEMPTS == 3
    assert waits == [1.0, 3.0]


def test_nothing_is_tried_after_the_ttl(receiver):
    _answers(receiver, (503, {}))
    outcome, waits = _deliver(_subscription(receiver.url("/p")), ttl=0.5)
    assert outcome is push.Outcome.RETRY
    assert _hits(receiver) == ["/p"] and waits == []


def test_a_message_queued_past_its_ttl_is_not_sent(receiver):
    outcome, waits = _deliver(_subscription(receiver.url("/p")), ttl=-1.0)
    assert outcome is push.Outcome.RETRY
    assert _hits(receiver) == [] and waits == []


def test_a_refusal_is_not_tried_again_and_the_subscription_is_kept(receiver):
    professional = make_professional()
    device, _phone = enrol(professional)
    subscription = _subscription(receiver.url("/p"))
    CardDevice.objects.filter(pk=device.pk).update(push=subscription)
    _answers(receiver, (400, {}))
    outcome, waits = _deliver(subscription, device_id=device.pk)
    assert outcome is push.Outcome.REFUSED
    assert _hits(receiver) == ["/p"] and waits == []
    device.refresh_from_db()
    assert device.push == subscription


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_removed_from_its_device_only_and_journaled(receiver, status):
    professional = make_professional()
    gone_device, _ = enrol(professional, name="Old phone")
    same_endpoint, _ = enrol(professional, name="Copy")
    gone = _subscription(receiver.url("/gone"))
    CardDevice.objects.filter(pk__in=[gone_device.pk, same_endpoint.pk]).update(push=gone)
    _answers(receiver, (status, {}))
    outcome, waits = _deliver(gone, device_id=gone_device.pk)
    assert outcome is push.Outcome.GONE
    assert _hits(receiver) == ["/gone"] and waits == []
    gone_device.refresh_from_db()
    same_endpoint.refresh_from_db()
    assert gone_device.push is None
    assert same_endpoint.push == gone  # another device's subscription is its own business
    assert (gone_device.status, same_endpoint.status) == ("active", "active")
    [event] = AuditEvent.objects.filter(tag="authn:card:push_gone")
    assert (event.actor, event.subject) == ("system:push", f"card_device:{gone_device.kid}")
    assert event.data == {"push_service": f"127.0.0.1:{receiver.port}"}


def test_a_gone_answer_leaves_a_subscription_made_meanwhile(receiver):
    professional = make_professional()
    device, _ = enrol(professional)
    old, new = _subscription(receiver.url("/old")), _subscription(receiver.url("/new"))
    CardDevice.objects.filter(pk=device.pk).update(push=new)  # the app subscribed again
    _answers(receiver, (410, {}))
    assert _deliver(old, device_id=device.pk)[0] is push.Outcome.GONE
    device.refresh_from_db()
    assert device.push == new
    assert not AuditEvent.objects.filter(tag="authn:card:push_gone").exists()


def test_a_malformed_subscription_is_refused_without_logging_it(receiver, caplog):
    bad = {"endpoint": receiver.url("/p"), "keys": {"p256dh": "not-a-point", "auth": "c2VjcmV0"}}
    outcome, waits = _deliver(bad, device_id=7)
    assert outcome is push.Outcome.REFUSED
    assert _hits(receiver) == [] and waits == []
    assert "c2VjcmV0" not in caplog.text and "/p" not in caplog.text
    assert "device 7" in caplog.text


def test_a_refused_connection_is_tried_again(receiver):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome, waits = _deliver(_subscription(f"http://127.0.0.1:{port}/p"))
    assert outcome is push.Outcome.RETRY
    assert waits == [1.0, 3.0]


def test_notify_delivers_after_the_commit_through_the_background_pool(
    receiver, django_capture_on_commit_callbacks
):
    targets = [
        push.Target(1, _subscription(receiver.url("/a"))),
        push.Target(2, _subscription(receiver.url("/b"))),
    ]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        push.notify(targets, {"x": 1})
    assert _hits(receiver) == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert push.wait_for_background_deliveries(10)
    assert sorted(_hits(receiver)) == ["/a", "/b"]


def test_the_server_retries_from_a_timer_not_a_sleeping_worker(receiver):
    _answers(receiver, (503, {"Retry-After": "1"}))
    target = push.Target(0, _subscription(receiver.url("/p")))
    started = time.monotonic()
    first = push.deliver(target, data=DATA, deadline=time.monotonic() + 120)
    assert first is push.Outcome.RETRY  # scheduled, not waited for
    assert time.monotonic() - started < 1.0
    assert _hits(receiver) == ["/p"]
    deadline = time.monotonic() + 10
    while len(_hits(receiver)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert push.wait_for_background_deliveries(10)
    assert _hits(receiver) == ["/p", "/p"]
