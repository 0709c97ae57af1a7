"""A readers-writer lock: many readers at once, or one writer alone; and an object's own."""

from __future__ import annotations

import contextlib
import functools
import threading

__all__ = ["LockedMixin", "ReadersWriterLock", "locked"]

# Guards the lazy creation of each object's lock, so that two threads get the same one.
_LOCK_CREATION = threading.Lock()


class ReadersWriterLock:
    """Shared access for readers, exclusive access for a writer; writers go first.

    A writer waits until the readers inside have left, and readers that arrive while a writer
    waits queue behind it, so a steady stream of readers cannot starve a writer. Both are
    reentrant: a thread inside :meth:`read` may read again, and the thread holding the write
    lock may write or read again (a learner's ``fit`` may run code that queries it). A reader
    must not ask for the write lock: that is an error, not a deadlock.

    Examples
    --------
    >>> from activekit._rwlock import ReadersWriterLock
    >>> lock = ReadersWriterLock()
    >>> with lock.read(), lock.read():  # a reader may read again
    ...     lock.readers
    1
    >>> with lock.write(), lock.read():  # and the writer may read
    ...     lock.readers
    0
    """

    def __init__(self):
        self._condition = threading.Condition(threading.Lock())
        self._reading = {}  # thread ident -> depth of its nested reads
        self._writer = None  # ident of the thread holding the write lock
        self._depth = 0  # its nested acquisitions
        self._writers_waiting = 0

    @property
    def readers(self):
        """Threads inside :meth:`read` now (the writer's own reads not counted)."""
        return len(self._reading)

    @contextlib.contextmanager
    def read(self):
        """Hold the lock shared with other readers for the duration of the block."""
        me = threading.get_ident()
        with self._condition:
            if self._writer == me:
                self._depth += 1
            elif me in self._reading:
                self._reading[me] += 1
            else:
                while self._writer is not None or self._writers_waiting:
                    self._condition.wait()
                self._reading[me] = 1
        try:
            yield
        finally:
            with self._condition:
                if self._writer == me:
                    self._depth -= 1
                else:
                    self._reading[me] -= 1
                    if not self._reading[me]:
                        del self._reading[me]
                        if not self._reading:
                            self._condition.notify_all()

    @contextlib.contextmanager
    def write(self):
        """Hold the lock alone for the duration of the block."""
        me = threading.get_ident()
        with self._condition:
            if self._writer == me:
                self._depth += 1
            elif me in self._reading:
                raise RuntimeError(
                    "this thread holds the lock to read and asked for it to write, which would "
                    "wait for itself forever (a query cannot fit or teach the learner)"
                )
            else:
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._reading:
                        self._condition.wait()
                finally:
                    self._writers_waiting -= 1
                    # Readers queued behind a writer that gave up (Ctrl-C) may go.
                    self._condition.notify_all()
                self._writer, self._depth = me, 1
        try:
            yield
        finally:
            with self._condition:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
                    self._condition.notify_all()


class LockedMixin:
    """A readers-writer lock for each instance, created on first use, and left out of pickles
    and copies (a lock does not pickle; a copy or an unpickled object gets a lock of its own).
    It is no parameter, so scikit-learn's ``get_params`` and ``clone`` never see it."""

    def _lock(self):
        lock = self.__dict__.get("_rw_lock")
        if lock is None:
            with _LOCK_CREATION:
                lock = self.__dict__.setdefault("_rw_lock", ReadersWriterLock())
        return lock

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_rw_lock", None)
        return state


def locked(mode):
    """Decorate a method of a :class:`LockedMixin` to run holding its lock, ``"read"``
    (shared) or ``"write"`` (alone)."""

    def decorate(method):
        @functools.wraps(method)
        def run_locked(self, *args, **kwargs):
            with getattr(self._lock(), mode)():
                return method(self, *args, **kwargs)

        return run_locked

    return decorate
