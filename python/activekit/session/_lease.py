"""One server per session: the labelling page and the Label Studio backend take the same lease.

Two servers on one session would each retrain it and each hand out its pending batch; the
session itself stays consistent (SQLite), but the campaign would not. So a server holds an
exclusive lock on ``<session>.server.lock`` while it runs, and writes there who it is; the
next server, of either kind, is refused with :class:`SessionBusyError` naming the first. The
operating system drops the lock with the process, so a killed server leaves no stale lease.
"""

from __future__ import annotations

import contextlib
import os
import time

__all__ = ["ServerLease", "SessionBusyError"]


class SessionBusyError(RuntimeError):
    """Another server (a labelling page or a Label Studio backend) already serves the session."""


def _lock(fd):
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class ServerLease:
    """The exclusive lease of a server on the session at ``session_path``.

    Parameters
    ----------
    session_path : str or path-like
        The session's SQLite file; the lease is ``<session_path>.server.lock``.
    server : str
        What holds it, for the message a second server gets (``"the labelling page"``).

    Raises
    ------
    SessionBusyError
        When another server, in this process or another, holds the lease.

    Examples
    --------
    >>> import os, tempfile
    >>> from activekit.session import ServerLease, SessionBusyError
    >>> path = os.path.join(tempfile.mkdtemp(), "campaign.db")
    >>> first = ServerLease(path, "the labelling page")
    >>> try:
    ...     ServerLease(path, "a Label Studio backend")
    ... except SessionBusyError as exc:
    ...     print(str(exc).split(";")[0])  # doctest: +ELLIPSIS
    the labelling page (pid ..., started ...) already serves the session '...campaign.db'
    >>> first.release()
    >>> ServerLease(path, "a Label Studio backend").release()   # free again
    """

    def __init__(self, session_path, server):
        session_path = os.fspath(session_path)
        self.path = f"{session_path}.server.lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(self._fd)
        except OSError:
            held_by = ""
            with contextlib.suppress(OSError):
                held_by = os.read(self._fd, 300).decode("utf-8", "replace").strip()
            os.close(self._fd)
            self._fd = None
            raise SessionBusyError(
                f"{held_by or 'another server'} already serves the session {session_path!r}; "
                f"stop it first, or label through it (lock file {self.path})"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{server} (pid {os.getpid()}, started {time.ctime()})".encode())

    def release(self):
        """Give the lease up (closing the file drops the lock); idempotent."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None
