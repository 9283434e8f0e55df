"""First attempts of outgoing deliveries, run in the web process after the commit.

Back-channel logouts and CIBA pings are rows in the database, delivered with retries by a worker
(``manage.py deliver_logouts``); so that the usual case needs no worker round, the request that
creates them also makes the first attempt in a small thread pool, once its transaction commits.
:class:`BackgroundAttempts` is that pool: each task gets fresh database connections (a thread
must not share the request's), a crash is logged and leaves the row due for the worker, and
:meth:`~BackgroundAttempts.wait` lets tests and a graceful shutdown wait for what was started.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


class BackgroundAttempts:
    """A lazily created thread pool of ``workers`` threads named ``name``."""

    def __init__(self, name: str, *, workers: int) -> None:
        self.name = name
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()

    def submit(self, attempt: Callable[[Any], Any], ids: Iterable[Any]) -> None:
        """Run ``attempt(id)`` for each id, in the pool, one after the other."""
        future = self._pool().submit(self._run, attempt, list(ids))
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until the attempts started so far are done; False if some still run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            for future in pending:
                # A failed attempt is already logged or journaled: only its end matters here.
                with contextlib.suppress(Exception):
                    future.result(timeout=max(deadline - time.monotonic(), 0.01))
        with self._lock:
            return not self._pending

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix=self.name
                )
            return self._executor

    def _run(self, attempt: Callable[[Any], Any], ids: list[Any]) -> None:
        close_old_connections()
        try:
            for row_id in ids:
                try:
                    attempt(row_id)
                except Exception:
                    # The row stays due (a lease, if any, expires): the worker retries it.
                    logger.exception("%s attempt %s crashed", self.name, row_id)
        finally:
            connections.close_all()

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)


def attempt_each(ids: Iterable[Any], attempt: Callable[[Any], bool | None]) -> tuple[int, int]:
    """The worker's pass: ``attempt`` each due id once; (delivered, failed) counts.

    ``attempt`` returns True (delivered), False (failed, retried later) or None (nothing to do:
    another worker has the row).
    """
    delivered = failed = 0
    for row_id in ids:
        outcome = attempt(row_id)
        if outcome is True:
            delivered += 1
        elif outcome is False:
            failed += 1
    return delivered, failed
