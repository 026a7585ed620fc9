"""Loaded by `make test-yearend` only (PYTHONPATH), in every Python process of that run.

The year-end run moves the wall clock with libfaketime but leaves the monotonic clock
alone (FAKETIME_DONT_FAKE_MONOTONIC=1): a faked monotonic clock makes every timed
`threading` wait (`Event.wait(t)`, `Lock.acquire(timeout=t)`, `Timer`) sleep for ever,
because glibc's `sem_clockwait` is not intercepted. With the monotonic clock left real,
libfaketime 0.9.10 then mis-converts `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`,
which is how CPython's `time.sleep` waits, and it fails with EINVAL. So here `time.sleep`
waits on an Event instead: the same duration, on the real monotonic clock. Nothing of the
service changes; the wall clock that the service reads is still the shifted one.
"""

from __future__ import annotations

import os
import threading
import time

if os.environ.get("FAKETIME"):
    _original_sleep = time.sleep

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            _original_sleep(seconds)  # raises ValueError as time.sleep does
        threading.Event().wait(seconds)

    time.sleep = _sleep
