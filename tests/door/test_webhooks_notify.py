"""Webhooks against a real local HTTP server; sd_notify against a real datagram socket."""

from __future__ import annotations

import os
import socket

import pytest

from kiosk.notify import Notifier
from kiosk.door.webhooks import WebhookSender

from ..http_hook import Hook


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_delivers_json(hook):
    s = WebhookSender([hook.url])
    s.start()
    s.send({"event": "alarm", "kind": "held_open"})
    assert s.drain(5)
    s.stop()
    assert hook.received == [{"event": "alarm", "kind": "held_open"}]
    assert s.stats.sent == 1


def test_retries_with_backoff():
    h = Hook(fail_first=2)
    try:
        s = WebhookSender([h.url], backoff=0.05)
        s.start()
        s.send({"n": 1})
        assert s.drain(5)
        s.stop()
        assert h.received == [{"n": 1}] and s.stats.retries == 2 and s.stats.failed == 0
    finally:
        h.close()


def test_dead_webhook_never_blocks_and_gives_up(hook):
    # A port with nobody listening: connection refused every time.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}/x"
    sock.close()
    s = WebhookSender([dead, hook.url], attempts=3, backoff=0.02, queue_size=4)
    s.start()
    hook.gate.clear()  # the live webhook hangs: send() must still return at once
    for i in range(50):
        s.send({"n": i})
    hook.gate.set()
    assert s.drain(10)
    s.stop()
    assert s.stats.dropped > 0 and s.stats.failed >= 1
    assert {"n": 49} in hook.received  # the newest survive


def test_notify_ready_and_watchdog(tmp_path):
    path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(2)
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.enabled and n.ping_interval() == 2.0
    assert n.ready("door ready")
    assert srv.recv(100) == b"READY=1\nSTATUS=door ready"
    assert n.watchdog()
    assert srv.recv(100) == b"WATCHDOG=1"
    n.close()
    srv.close()


def test_notify_abstract_socket():
    name = f"bibkiosk-test-{os.getpid()}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind("\0" + name)
    srv.settimeout(2)
    n = Notifier({"NOTIFY_SOCKET": "@" + name})
    assert n.stopping() and srv.recv(100) == b"STOPPING=1"
    assert n.ping_interval() is None
    srv.close()


def test_notify_outside_systemd_is_a_noop():
    n = Notifier({})
    assert not n.enabled and not n.ready() and not n.watchdog()


def test_watchdog_for_another_pid_is_ignored():
    n = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert n.ping_interval() is None


def test_on_result_says_whether_a_payload_went_out(hook):
    """``send(..., on_result=)`` (the kiosk's staff call): True once one URL took it, False when all gave up."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}/x"
    sock.close()
    results: list[bool] = []
    both = WebhookSender([dead, hook.url], attempts=2, backoff=0.02)
    only_dead = WebhookSender([dead], attempts=2, backoff=0.02)
    for s in (both, only_dead):
        s.start()
        s.send({"event": "help"}, on_result=results.append)
        assert s.drain(5)
        s.stop()
    assert results == [True, False]
    assert hook.received == [{"event": "help"}]
    WebhookSender([]).send({"event": "help"}, on_result=results.append)  # no URL: not sent
    assert results == [True, False, False]
