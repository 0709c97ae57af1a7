"""Ctrl-C in a test: interrupt the main thread while it runs a call, and time how long the
interrupt takes to land."""

from __future__ import annotations

import _thread
import threading
import time

import pytest


def interrupted(call, after=0.3):
    """Run ``call`` with Ctrl-C after ``after`` seconds; the seconds it took to land.

    The interrupt is sent again every second until ``call`` returns, so that an interrupt
    that is lost shows as a lag above a second, which the tests assert against, rather than
    a kernel left running for hours (as happened once, with the suite started as a
    background job, SIGINT ignored: ``conftest.py`` now restores the handler).
    """
    done = threading.Event()

    def fire():
        while not done.is_set():
            _thread.interrupt_main()
            if done.wait(1.0):
                break

    timer = threading.Timer(after, fire)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
        return time.perf_counter() - start - after
    finally:
        done.set()
        timer.cancel()
