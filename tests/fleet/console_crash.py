"""``bibkiosk console`` that dies at its store step: only the tests run this.

    python -m tests.fleet.console_crash MODE COUNT console --config FILE

The console's event store (``ConsoleStore.add_events``) is replaced before the
console starts:

- ``before``: the store step never completes (every call raises StoreError,
  as a store that hangs or fails); once a batch of at least COUNT events has
  reached it (every event received), the process SIGKILLs itself 0.5 s later.
  The event loop runs meanwhile, so whatever acknowledgements the console
  would send, it sends.
- ``after``: the first batch is stored (committed), then the process SIGKILLs
  itself at once, before the store step returns: stored, not acknowledged.

Nothing of this is in the console's own code: the point where it dies is
fixed here, by the test, not by timing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    mode, count, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if mode not in ("before", "after"):
        raise SystemExit(f"mode before|after, not {mode!r}")

    from kiosk.cli import main as cli_main
    from kiosk.console.errors import StoreError
    from kiosk.console.store import ConsoleStore

    original = ConsoleStore.add_events
    fired = threading.Event()

    def add_events(self, batch):
        if mode == "after":
            new = original(self, batch)
            _die()
            return new
        if len(batch) >= count and not fired.is_set():
            fired.set()
            threading.Timer(0.5, _die).start()
        raise StoreError("test: the store step does not complete")

    ConsoleStore.add_events = add_events
    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
