"""The in-process first attempts of deliveries (idp/core/background.py)."""

from __future__ import annotations

import threading

from idp.core.background import BackgroundAttempts, attempt_each


def test_each_id_is_attempted_in_order_and_a_crash_does_not_stop_the_others():
    seen: list[int] = []
    done = threading.Event()

    def attempt(row_id: int) -> None:
        seen.append(row_id)
        if row_id == 2:
            raise RuntimeError("the push service is down")
        if row_id == 3:
            done.set()

    pool = BackgroundAttempts("test-attempts", workers=1)
    pool.submit(attempt, [1, 2, 3])
    assert pool.wait(5)
    assert done.is_set()
    assert seen == [1, 2, 3]


def test_the_worker_pass_counts_delivered_and_failed_not_skipped():
    outcomes = {1: True, 2: False, 3: None, 4: True}
    assert attempt_each([1, 2, 3, 4], outcomes.__getitem__) == (2, 1)
