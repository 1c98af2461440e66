"""Alarm and event delivery to staff over HTTP webhooks.

``send()`` never blocks and never raises: it puts the payload on a bounded
queue per URL (dropping the oldest when full, counted in ``dropped``).  One
worker thread per URL posts JSON with the standard library's
:mod:`urllib.request` (not :mod:`requests`: its import alone is ~4.4 MB of
the door's resident memory, for a few POSTs a day), retrying with
exponential backoff; a dead webhook delays only itself, never the door or
another webhook.  Payloads carry no personal data (card references at most).
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

_STOP = object()


@dataclass
class WebhookStats:
    sent: int = 0
    failed: int = 0  # gave up after every attempt
    dropped: int = 0  # queue full
    retries: int = 0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _describe(url: str) -> str:
    """The URL without credentials or query, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _Worker(threading.Thread):
    def __init__(self, sender: WebhookSender, url: str) -> None:
        super().__init__(name=f"webhook {_describe(url)}", daemon=True)
        self.sender = sender
        self.url = url
        self.queue: queue.Queue[object] = queue.Queue(maxsize=sender.queue_size)

    def _post(self, body: bytes, timeout: float) -> int:
        """POST *body*; the HTTP status (an error status too)."""
        request = urllib.request.Request(
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "bibkiosk-door"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    def offer(self, body: bytes, outcome: _Outcome | None = None) -> None:
        while True:
            try:
                self.queue.put_nowait((body, outcome))
                return
            except queue.Full:
                try:
                    _dropped, lost = self.queue.get_nowait()  # type: ignore[misc]
                    self.queue.task_done()
                    with self.sender.stats.lock:
                        self.sender.stats.dropped += 1
                    if lost is not None:
                        lost.done(False)
                except queue.Empty:
                    pass

    def run(self) -> None:
        s = self.sender
        while True:
            body, outcome = self.queue.get()  # type: ignore[misc]
            if body is _STOP:
                break
            sent = False
            delay = s.backoff
            for attempt in range(1, s.attempts + 1):
                try:
                    status = self._post(body, s.timeout)
                    if 200 <= status < 300:
                        with s.stats.lock:
                            s.stats.sent += 1
                        sent = True
                        break
                    error = f"HTTP {status}"
                except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts, bad answers
                    error = type(exc).__name__
                with s.stats.lock:
                    s.stats.last_error = error
                if attempt == s.attempts:
                    with s.stats.lock:
                        s.stats.failed += 1
                    log.warning("webhook %s: gave up after %d attempts (%s)", _describe(self.url), attempt, error)
                    break
                with s.stats.lock:
                    s.stats.retries += 1
                log.info("webhook %s: attempt %d failed (%s); retrying in %.1f s", _describe(self.url), attempt, error, delay)
                if s._stopping.wait(delay):
                    break
                delay = min(delay * 2, s.max_backoff)
            if outcome is not None:
                outcome.done(sent)
            self.queue.task_done()


class _Outcome:
    """One payload sent to every URL: *on_result* is told once, True as soon
    as one URL took it, False when every URL gave up (or dropped it)."""

    def __init__(self, count: int, on_result: Callable[[bool], None]) -> None:
        self._left = count
        self._told = False
        self._lock = threading.Lock()
        self._on_result = on_result

    def done(self, sent: bool) -> None:
        with self._lock:
            self._left -= 1
            if self._told or not (sent or self._left == 0):
                return
            self._told = True
        try:
            self._on_result(sent)
        except Exception:  # noqa: BLE001 - a caller's bug must not kill the worker
            log.exception("webhook result callback failed")


class WebhookSender:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        queue_size: int = 256,
        attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 5.0,
    ) -> None:
        self.urls = list(urls)
        self.queue_size = queue_size
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.stats = WebhookStats()
        self._stopping = threading.Event()
        self._workers = [_Worker(self, url) for url in self.urls]
        self._started = False

    def start(self) -> None:
        if not self._started:
            for w in self._workers:
                w.start()
            self._started = True

    def send(self, payload: dict[str, object], on_result: Callable[[bool], None] | None = None) -> None:
        """Queue *payload* for every webhook; never blocks.  *on_result* (called
        once, from a worker thread) says whether it went out: True when one
        webhook took it, False when all gave up."""
        if not self._workers:
            if on_result is not None:
                on_result(False)
            return
        body = json.dumps(payload, default=str).encode()
        outcome = None if on_result is None else _Outcome(len(self._workers), on_result)
        for w in self._workers:
            w.offer(body, outcome)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued payload is sent or given up (tests, shutdown)."""
        import time

        end = time.monotonic() + timeout
        for w in self._workers:
            while w.queue.unfinished_tasks:
                if time.monotonic() > end:
                    return False
                time.sleep(0.01)
        return True

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the workers; what is still queued after *timeout* is lost."""
        if not self._started:
            return
        self.drain(timeout)
        self._stopping.set()
        for w in self._workers:
            w.offer(_STOP)  # type: ignore[arg-type]
        for w in self._workers:
            w.join(timeout)
        self._started = False
