"""Labelling sessions: a real labelling campaign kept in an SQLite file.

A :class:`LabelingSession` records which pool ids were asked (by which model version, strategy
and seed), which are pending, and every answer (label, annotator, time, lead time; edits and
deletions as new events). It survives killed processes, resumes from disk asking exactly what
an uninterrupted campaign asks, and may be shared by several threads and processes. See
``docs/session.md``.

Examples
--------
>>> from activekit.session import LabelingSession
>>> LabelingSession.__name__
'LabelingSession'
"""

from ._lease import ServerLease, SessionBusyError
from ._session import LabelingSession

__all__ = ["LabelingSession", "ServerLease", "SessionBusyError"]
