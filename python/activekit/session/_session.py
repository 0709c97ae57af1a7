"""LabelingSession: a labelling campaign kept in an SQLite file (see :mod:`._store`)."""

from __future__ import annotations

import copy
import csv
import datetime
import hashlib
import io
import json
import math
import os
import sqlite3
import sys
import threading
import time
import uuid
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from .._compat import _num_samples
from .._random import MAX_DRAWN_SEED, MAX_SEED, draw_seed
from . import _store
from ._store import StoreError, retry_busy, transaction

__all__ = ["LabelingSession"]

#: Format marker in the ``meta`` table.
_FORMAT = "activekit.session"

#: How many times next_batch computes a batch outside the write lock before it computes one
#: holding it (when labels or queries keep arriving from other connections meanwhile).
_OPTIMISTIC_TRIES = 3


def _pause(stage):
    """A no-op called at the points where a killed process is most interesting
    (``"record:in_transaction"``, ``"refit:fitted"``, ``"refit:written"``,
    ``"refit:in_transaction"``, ``"next_batch:in_transaction"``); the kill tests
    (``tests/support/session_worker.py``) replace it to stop there."""


def _now():
    return time.time()


def _iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat()


def _show(values, limit=10):
    """``values`` for an error message: the first ``limit`` of them, and how many more."""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return f"[{shown}]{more}"


def _as_list(values, name):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence, got {type(values).__name__} {values!r}")
    if hasattr(values, "tolist") and not hasattr(values, "columns"):
        values = values.tolist()
    return list(values)


def _norm_id(value):
    """A pool id as stored (a Python int or str), or None if it can be no id."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (Integral, np.integer)):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return None


def _check_pool_ids(pool_ids):
    ids = _as_list(pool_ids, "pool_ids")
    if not ids:
        raise ValueError("pool_ids must hold at least one id, got an empty sequence")
    normed = [_norm_id(v) for v in ids]
    bad = [v for v, n in zip(ids, normed, strict=True) if n is None]
    if bad:
        raise TypeError(f"pool_ids must be integers or strings, got {_show(bad)}")
    kinds = {type(v) for v in normed}
    if len(kinds) > 1:
        raise TypeError("pool_ids must be all integers or all strings, got a mix of both")
    if kinds == {int}:
        out = [v for v in normed if not -(2**63) <= v < 2**63]
        if out:
            raise ValueError(f"pool_ids must fit in 64 bits, got {_show(out)}")
    seen, dups = set(), []
    for v in normed:
        if v in seen:
            dups.append(v)
        seen.add(v)
    if dups:
        raise ValueError(f"pool_ids must be unique; repeated: {_show(dict.fromkeys(dups))}")
    return normed


def _label_key(value):
    """A label as stored (Python str, int or float) and the key it is compared by, or
    ``(None, None)`` if it can be no label."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return None, None
    if isinstance(value, str):
        return value, ("s", value)
    if isinstance(value, Integral):
        if not -(2**63) <= value < 2**63:  # what SQLite stores as an integer
            return None, None
        return int(value), ("n", int(value))
    if isinstance(value, Real) and math.isfinite(value):
        value = float(value)
        return value, ("n", value)
    return None, None


def _check_classes(classes):
    if classes is None:
        return None
    values = _as_list(classes, "classes")
    out, seen = [], set()
    for value in values:
        label, key = _label_key(value)
        if key is None:
            raise TypeError(f"classes must be strings or finite numbers, got {value!r}")
        if key in seen:
            raise ValueError(f"classes must be unique; {value!r} is repeated")
        seen.add(key)
        out.append(label)
    if len({key[0] for key in seen}) > 1:
        raise TypeError(f"classes must be all strings or all numbers, got {values!r}")
    if len(out) < 2:
        raise ValueError(f"classes must hold at least 2 labels, got {values!r}")
    return out


def _per_id(value, n, name, check):
    """``value`` for each of ``n`` ids: one value for all, or a sequence of ``n``."""
    if value is None or isinstance(value, (str, Real, np.generic)):
        values = [value] * n
    else:
        values = _as_list(value, name)
        if len(values) != n:
            raise ValueError(f"{name} must be one value or one per id ({n}), got {len(values)}")
    return [None if v is None else check(v, name) for v in values]


def _check_text(value, name):
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__} {value!r}")
    return str(value)


def _check_seconds(value, name):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{name} must be a number of seconds or None, got {type(value).__name__} {value!r}"
        )
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _seed(base_seed, kind, number):
    """The seed of round ``number`` (``kind`` 0) or of the ranking by model version
    ``number`` (``kind`` 1), derived from the session's base seed alone: a campaign resumed
    from disk draws what an uninterrupted one draws."""
    state = np.random.SeedSequence(base_seed, spawn_key=(kind, number)).generate_state(1)
    return int(state[0]) % MAX_DRAWN_SEED


def _base_seed(random_state):
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (MAX_SEED + 1))
    if isinstance(random_state, np.random.RandomState):
        return int(draw_seed(random_state))
    return int(random_state)


def _params_hash(learner):
    params = sorted((k, repr(v)) for k, v in learner.get_params(deep=True).items())
    return hashlib.sha256(repr(params).encode()).hexdigest()[:16]


class _Pool:
    """The caller's id -> row loader: an array aligned with the ids, a DataFrame indexed by
    id, or a callable taking a list of ids."""

    def __init__(self, pool, ids, positions):
        self.pool = pool
        self.n = len(ids)
        self.positions = positions
        pandas = sys.modules.get("pandas")
        if pandas is not None and isinstance(pool, pandas.DataFrame):
            self.kind = "frame"
            if not pool.index.is_unique:
                dups = pool.index[pool.index.duplicated()].unique().tolist()
                raise ValueError(f"pool: the DataFrame's index repeats ids {_show(dups)}")
            present = pool.index.isin(ids).sum()
            if present != len(ids):
                index = set(pool.index.tolist())
                missing = [i for i in ids if i not in index]
                raise ValueError(
                    f"pool: the DataFrame's index lacks {len(missing)} of the session's "
                    f"{len(ids)} pool ids: {_show(missing)}"
                )
        elif callable(pool) and not hasattr(pool, "shape"):
            self.kind = "callable"
        elif hasattr(pool, "shape") or hasattr(pool, "__len__"):
            self.kind = "array"
            if hasattr(pool, "shape") and len(pool.shape) != 2:
                raise ValueError(f"pool must be 2-D (rows x features), got shape {pool.shape}")
            n_rows = _num_samples(pool)
            if n_rows != len(ids):
                raise ValueError(
                    f"pool has {n_rows} rows but the session has {len(ids)} pool ids; an "
                    "array pool must hold one row per id, in the order of pool_ids"
                )
        else:
            raise TypeError(
                "pool must be a 2-D array aligned with pool_ids, a pandas DataFrame indexed "
                f"by id, or a callable(list_of_ids) -> rows; got {type(pool).__name__}"
            )

    def rows(self, ids):
        ids = list(ids)
        if self.kind == "frame":
            return self.pool.loc[ids]
        if self.kind == "array":
            from sklearn.utils import _safe_indexing

            return _safe_indexing(self.pool, [self.positions[i] for i in ids])
        rows = self.pool(ids)
        n = _num_samples(rows)
        if n != len(ids):
            raise ValueError(f"pool({len(ids)} ids) returned {n} rows; expected one per id")
        return rows


class LabelingSession:
    """A labelling campaign stored in an SQLite file: what was asked, what was answered.

    The session keeps pool **ids**, never feature rows: the caller gives the rows through a
    loader each time the session is created or opened. It records every query (round, id,
    strategy, score, model version, parameters hash, seed, time) and every label event (id,
    label, annotator, time, lead time, note; an edit or a deletion is a new event), and keeps
    each model it fits as a checkpoint file beside the database, with its SHA-256.

    Create one with :meth:`create`, resume one with :meth:`open`; do not call the
    constructor. A session may be used from several threads and several processes at once
    (SQLite in WAL mode; writes are single transactions, retried while another process holds
    the lock). Checkpoints are joblib (pickle) files: open only sessions you trust.

    Attributes
    ----------
    path : str
        The database file.
    pool_ids : list
        The pool's ids, in the order given to :meth:`create`.

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.session import LabelingSession
    >>> X, y = load_digits(n_class=3, return_X_y=True)
    >>> X, y = X[:60], y[:60]
    >>> tmp = tempfile.mkdtemp()
    >>> learner = ActiveLearningClassifier(batch_size=5, random_state=0)
    >>> session = LabelingSession.create(
    ...     os.path.join(tmp, "campaign.db"), learner, range(60), X, classes=[0, 1, 2])
    >>> batch = session.next_batch()          # a seeded random batch: no model yet
    >>> session.next_batch() == batch         # unanswered: the same batch again
    True
    >>> session.record(batch, y[batch], annotator="ann")
    5
    >>> session.record([7, 8, 9], y[[7, 8, 9]])   # never asked: allowed, flagged unsolicited
    3
    >>> session.refit()
    1
    >>> len(session.next_batch()), session.n_labeled, session.model_version
    (5, 8, 1)
    >>> asked = session.pending()
    >>> session.close()
    >>> with LabelingSession.open(os.path.join(tmp, "campaign.db"), X) as again:
    ...     again.next_batch() == asked       # resumed: the same pending batch
    True
    >>> shutil.rmtree(tmp)
    """

    def __init__(self, *, _path=None, _conn=None, _meta=None, _ids=None, _pool=None):
        if _conn is None:
            raise TypeError(
                "create a session with LabelingSession.create(...) or open one with "
                "LabelingSession.open(...)"
            )
        self.path = _path
        self._conn = _conn
        self._meta = _meta
        self.pool_ids = _ids
        self._positions = {pid: i for i, pid in enumerate(_ids)}
        self._pool = _Pool(_pool, _ids, self._positions)
        self._lock = threading.RLock()
        self._fit_lock = threading.Lock()
        self._model = None  # (version, fitted learner), the last one loaded or fitted
        self._template = self._load_checkpoint(0)

    # -- creating and opening --------------------------------------------------------------

    @classmethod
    def create(cls, path, learner, pool_ids, pool, *, classes=None, overwrite=False):
        """Start a campaign: a new session file at ``path``.

        Parameters
        ----------
        path : str or os.PathLike
            The SQLite file to create. Checkpoints go into the folder ``<path>.checkpoints``
            beside it.
        learner : ActiveLearningClassifier
            The learner: its ``query_strategy``, ``batch_size``, ``random_state`` and
            ``estimator`` are the campaign's. It is cloned (any fitted state is dropped) and
            kept as the session's model version 0.
        pool_ids : sequence of int or str
            The pool's ids, unique, all integers or all strings.
        pool : array-like, pandas.DataFrame or callable
            The rows: a 2-D array (or sparse matrix) with one row per id in the order of
            ``pool_ids``, a DataFrame indexed by id, or ``pool(list_of_ids) -> rows``.
        classes : sequence of int or str, default=None
            The label set: labels outside it are rejected. ``None`` accepts any label (all
            strings or all numbers) and learns the classes as they come.
        overwrite : bool, default=False
            Replace an existing session at ``path`` (and its checkpoints).

        Returns
        -------
        session : LabelingSession
        """
        from .._base import check_params
        from .._learner import ActiveLearningClassifier

        path = _check_path(path)
        if not isinstance(learner, ActiveLearningClassifier):
            raise TypeError(
                "learner must be an activekit ActiveLearningClassifier, got "
                f"{type(learner).__name__}"
            )
        check_params(learner)
        template = clone(learner)
        ids = _check_pool_ids(pool_ids)
        classes = _check_classes(classes)
        _Pool(pool, ids, {pid: i for i, pid in enumerate(ids)})  # check it before writing
        if not isinstance(overwrite, (bool, np.bool_)):
            raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
        from ..strategies import get_strategy
        from ..strategies._common import strategy_label

        meta = {
            "format": _FORMAT,
            "created": _now(),
            "id_kind": "int" if isinstance(ids[0], int) else "str",
            "classes": classes,
            "strategy": strategy_label(get_strategy(template.query_strategy)),
            "params_hash": _params_hash(template),
            "base_seed": _base_seed(template.random_state),
        }
        if os.path.exists(path):
            if not overwrite:
                raise FileExistsError(
                    f"a file exists at {path!r}; open it with LabelingSession.open, or pass "
                    "overwrite=True to replace it"
                )
            _remove_session_files(path)
        checkpoint_dir = path + ".checkpoints"
        os.makedirs(checkpoint_dir, exist_ok=True)
        file, digest = _write_checkpoint(checkpoint_dir, template)
        # Built under a temporary name and renamed: a file at `path` is always complete.
        building = f"{path}.creating-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        conn = _store.connect(building, create=True)
        try:
            _store.migrate(conn, 0, _store.SCHEMA_VERSION)
            with transaction(conn):
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in meta.items()],
                )
                conn.executemany(
                    "INSERT INTO pool (position, pool_id) VALUES (?, ?)", enumerate(ids)
                )
                conn.execute(
                    "INSERT INTO checkpoints VALUES (0, ?, ?, 0, 0, ?)", (file, digest, _now())
                )
        except BaseException:
            conn.close()
            os.remove(building)
            raise
        conn.close()
        os.replace(building, path)
        return cls.open(path, pool)

    @classmethod
    def open(cls, path, pool):
        """Resume the campaign stored at ``path``.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`create`. An older schema is migrated in place.
        pool : array-like, pandas.DataFrame or callable
            The rows, as for :meth:`create`.

        Returns
        -------
        session : LabelingSession

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        ValueError
            The file is no activekit session (another SQLite database, or not one), is
            corrupt, has a schema newer than this activekit reads, or a checkpoint does not
            match its recorded hash.
        """
        path = _check_path(path)
        conn = _store.connect(path)
        try:
            _store.check_file(conn, path)
            meta = _read_meta(conn, path)
            try:
                ids = [r[0] for r in conn.execute("SELECT pool_id FROM pool ORDER BY position")]
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{path!r} is a corrupt session database: {exc}") from exc
            return cls(_path=path, _conn=conn, _meta=meta, _ids=ids, _pool=pool)
        except BaseException:
            conn.close()
            raise

    def close(self):
        """Close the database connection (again: no effect)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __del__(self):
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        if self._conn is None:
            return f"LabelingSession({self.path!r}, closed)"
        return (
            f"LabelingSession({self.path!r}, n_pool={len(self.pool_ids)}, "
            f"n_labeled={self.n_labeled}, model_version={self.model_version})"
        )

    # -- reading ---------------------------------------------------------------------------

    def _db(self):
        if self._conn is None:
            raise ValueError(f"the session {self.path!r} is closed")
        return self._conn

    def _read(self, sql, params=()):
        with self._lock:
            return self._db().execute(sql, params).fetchall()

    @property
    def model_version(self):
        """The version of the current model: 0 before the first :meth:`refit`."""
        return self._read("SELECT MAX(model_version) FROM checkpoints")[0][0]

    @property
    def n_labeled(self):
        """How many ids have a label now."""
        return self._read("SELECT COUNT(*) FROM current_labels")[0][0]

    @property
    def labels_since_refit(self):
        """How many label and deletion events were recorded after the current model's labels
        were read (all of them before the first :meth:`refit`): what a caller that refits
        every N labels counts, kept across restarts."""
        return self._read(
            "SELECT COUNT(*) FROM label_events WHERE kind IN ('label', 'delete') AND "
            "event_id > (SELECT last_event_id FROM checkpoints WHERE model_version = "
            "(SELECT MAX(model_version) FROM checkpoints))"
        )[0][0]

    @property
    def classes(self):
        """The label set: the ``classes`` given to :meth:`create`, else the labels recorded
        so far, sorted."""
        if self._meta["classes"] is not None:
            return list(self._meta["classes"])
        return [
            row[0] for row in self._read("SELECT DISTINCT label FROM current_labels ORDER BY label")
        ]

    @property
    def strategy(self):
        """The name of the learner's query strategy."""
        return self._meta["strategy"]

    @property
    def learner(self):
        """The learner of the current model version, fitted; before the first
        :meth:`refit`, an unfitted clone of the learner given to :meth:`create`."""
        _, learner = self._current_model()
        return clone(self._template) if learner is None else learner

    def pending(self):
        """The ids asked and not answered yet (labelled or skipped), in the order asked.

        Returns
        -------
        ids : list
        """
        return [
            row[0]
            for row in self._read(
                "SELECT pool_id FROM queries WHERE answered_by IS NULL ORDER BY round, rank"
            )
        ]

    def _current_model(self):
        """``(version, fitted learner)``; ``(0, None)`` before the first fit."""
        version = self.model_version
        if version == 0:
            return 0, None
        cached = self._model
        if cached is not None and cached[0] == version:
            return cached
        learner = self._load_checkpoint(version)
        self._model = (version, learner)
        return version, learner

    def _load_checkpoint(self, version):
        rows = self._read(
            "SELECT file, sha256 FROM checkpoints WHERE model_version = ?", (version,)
        )
        if not rows:
            raise StoreError(f"{self.path!r} has no checkpoint of model version {version}")
        file, digest = rows[0]
        full = os.path.join(self.path + ".checkpoints", file)
        try:
            with open(full, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise StoreError(
                f"the checkpoint of model version {version} of {self.path!r} cannot be read: {exc}"
            ) from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise StoreError(
                f"the checkpoint {full!r} of model version {version} does not match the hash "
                f"recorded in {self.path!r} (recorded sha256 {digest[:12]}..., file "
                f"{actual[:12]}...): it was changed or damaged"
            )
        import joblib

        return joblib.load(io.BytesIO(data))

    def _check_ids(self, ids, name="ids", *, unique=True):
        values = _as_list(ids, name)
        normed = [_norm_id(v) for v in values]
        unknown = [
            v for v, n in zip(values, normed, strict=True) if n is None or n not in self._positions
        ]
        if unknown:
            kind = "integers" if self._meta["id_kind"] == "int" else "strings"
            raise ValueError(
                f"{name}: {len(unknown)} unknown ids {_show(unknown)} (not in the session's "
                f"pool of {len(self.pool_ids)} ids, which are {kind})"
            )
        if unique:
            seen, dups = set(), []
            for v in normed:
                if v in seen:
                    dups.append(v)
                seen.add(v)
            if dups:
                raise ValueError(f"{name}: repeated ids {_show(dict.fromkeys(dups))}")
        return normed

    def _check_labels(self, labels, n):
        values = _as_list(labels, "labels")
        if len(values) != n:
            raise ValueError(f"labels must hold one label per id ({n}), got {len(values)}")
        out = []
        classes = self._meta["classes"]
        lookup = None if classes is None else {_label_key(c)[1]: c for c in classes}
        bad = []
        for value in values:
            label, key = _label_key(value)
            if key is None or (lookup is not None and key not in lookup):
                bad.append(value)
            else:
                out.append(label if lookup is None else lookup[key])
        if bad and lookup is not None:
            raise ValueError(f"labels {_show(bad)} are not in classes {classes!r}")
        if bad:
            raise ValueError(f"labels must be strings or finite numbers, got {_show(bad)}")
        if lookup is None and out:
            kinds = {isinstance(v, str) for v in out}
            if len(kinds) > 1:
                raise ValueError("labels must be all strings or all numbers, got a mix")
        return out

    # -- asking ----------------------------------------------------------------------------

    def _state(self, conn):
        """What a computed batch depends on; if it changed, the batch is computed again."""
        return conn.execute(
            "SELECT (SELECT MAX(query_id) FROM queries), (SELECT MAX(event_id) FROM "
            "label_events), (SELECT MAX(model_version) FROM checkpoints)"
        ).fetchone()

    def _candidates(self, conn):
        """Ids neither labelled, pending nor skipped, in pool order; the next round number."""
        taken = {row[0] for row in conn.execute("SELECT pool_id FROM current_labels")}
        taken.update(
            row[0]
            for row in conn.execute(
                "SELECT e.pool_id FROM label_events AS e JOIN (SELECT MAX(event_id) AS m "
                "FROM label_events GROUP BY pool_id) AS l ON e.event_id = l.m "
                "WHERE e.kind = 'skip'"
            )
        )
        taken.update(
            row[0] for row in conn.execute("SELECT pool_id FROM queries WHERE answered_by IS NULL")
        )
        last_round = conn.execute("SELECT MAX(round) FROM queries").fetchone()[0]
        candidates = [pid for pid in self.pool_ids if pid not in taken]
        return candidates, (last_round or 0) + 1

    def _choose(self, candidates, k, seed, learner):
        """``(ids, scores)``: ``k`` of ``candidates`` in acquisition order; random (scores
        None) without a model."""
        if learner is None:
            picks = np.random.RandomState(seed).choice(len(candidates), size=k, replace=False)
            return [candidates[i] for i in picks], [None] * k
        asker = copy.copy(learner)
        asker.random_state = seed
        rows = self._pool.rows(candidates)
        if callable(getattr(asker.query_strategy_, "rank", None)):
            picks, scores = asker.query(rows, n_instances=k, return_scores=True)
            scores = [float(s) for s in np.asarray(scores, dtype=float)]
        else:
            picks, scores = asker.query(rows, n_instances=k), [None] * k
        return [candidates[i] for i in picks], scores

    def next_batch(self, k=None):
        """The ids to label next, most informative first, recorded as pending queries.

        While any asked id is unanswered (neither labelled nor skipped), returns those
        pending ids again and asks nothing new. Otherwise asks the learner's strategy for
        ``k`` of the ids that are neither labelled nor skipped, with the current model; before
        any model exists, a random batch (and if the labels already hold two classes, the
        first model is fitted first). Each round's seed derives from the learner's
        ``random_state`` and the round number, so a campaign resumed from disk asks what an
        uninterrupted one asks.

        Parameters
        ----------
        k : int, default=None
            How many ids to ask; ``None`` means the learner's ``batch_size``. Fewer are
            returned when fewer are left; none once every id is labelled or skipped.

        Returns
        -------
        ids : list
        """
        if k is None:
            k = self._template.batch_size
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (Integral, np.integer)):
            raise TypeError(f"k must be a positive integer or None, got {type(k).__name__} {k!r}")
        if k < 1:
            raise ValueError(f"k must be a positive integer or None, got {k}")
        k = int(k)
        if self.model_version == 0 and not self.pending() and self._can_fit():
            self._refit_first()
        for attempt in range(_OPTIMISTIC_TRIES + 1):
            holding = attempt == _OPTIMISTIC_TRIES  # the last try computes under the lock
            result = retry_busy(lambda h=holding: self._ask(k, h), self.path)
            if result is not None:
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _ask(self, k, holding):
        """One try at a new batch: the pending ids, or a new batch written, or ``None`` when
        the session changed while the batch was computed (outside the lock)."""
        if holding:
            with self._lock, transaction(self._db()) as conn:
                plan = self._plan(conn, k)
                if plan is None or not isinstance(plan, tuple):
                    return plan
                return self._insert(conn, *plan)
        conn = self._db()
        with self._lock:
            conn.execute("BEGIN")
            try:
                state = self._state(conn)
                pending = self.pending()
                candidates, round_ = self._candidates(conn)
            finally:
                conn.execute("COMMIT")
        if pending or not candidates:
            return pending
        plan = self._compute(candidates, round_, k, state)
        if plan is None:
            return None
        with self._lock, transaction(conn):
            if self._state(conn) != state:
                return None
            return self._insert(conn, *plan)

    def _plan(self, conn, k):
        """Under the write lock: the pending ids, or ``[]``, or a computed batch."""
        pending = self.pending()
        if pending:
            return pending
        candidates, round_ = self._candidates(conn)
        if not candidates:
            return []
        return self._compute(candidates, round_, k, self._state(conn))

    def _compute(self, candidates, round_, k, state):
        """``(ids, rows)``: the batch of round ``round_`` and its query rows, or ``None``
        if the current model is no longer the one of ``state``."""
        version, learner = self._current_model()
        if version != state[2]:
            return None
        seed = _seed(self._meta["base_seed"], 0, round_)
        ids, scores = self._choose(candidates, min(k, len(candidates)), seed, learner)
        strategy = "random" if learner is None else self._meta["strategy"]
        rows = [
            (round_, rank, pid, strategy, score, version, self._meta["params_hash"], seed)
            for rank, (pid, score) in enumerate(zip(ids, scores, strict=True))
        ]
        return ids, rows

    def _insert(self, conn, ids, rows):
        now = _now()
        conn.executemany(
            "INSERT INTO queries (round, rank, pool_id, strategy, score, model_version, "
            "params_hash, seed, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row, now) for row in rows],
        )
        _pause("next_batch:in_transaction")
        return ids

    def ranking(self, ids):
        """``ids`` in acquisition order by the current model, most informative first.

        Uses the learner's strategy as :meth:`next_batch` does, with a seed derived from the
        learner's ``random_state`` and the model version; before the first model, a seeded
        random order. Records nothing.

        Parameters
        ----------
        ids : sequence of pool ids
            Distinct ids of the pool (labelled ones too).

        Returns
        -------
        ids : list
        """
        ids = self._check_ids(ids)
        if not ids:
            return []
        version, learner = self._current_model()
        seed = _seed(self._meta["base_seed"], 1, version)
        ordered, _ = self._choose(ids, len(ids), seed, learner)
        return ordered

    def predict(self, ids):
        """The current model's labels for ``ids``.

        Parameters
        ----------
        ids : sequence of pool ids

        Returns
        -------
        labels : ndarray of shape (len(ids),)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before the first :meth:`refit` (a ValueError).
        """
        ids = self._check_ids(ids, unique=False)
        _, learner = self._current_model()
        if learner is None:
            raise NotFittedError(
                f"the session {self.path!r} has no model yet: record labels of at least two "
                "classes and call refit()"
            )
        if not ids:
            return np.asarray([], dtype=learner.classes_.dtype)
        return learner.predict(self._pool.rows(ids))

    # -- answering -------------------------------------------------------------------------

    def record(self, ids, labels, *, annotator=None, lead_time=None, note=None):
        """Record labels: one label event per id, in one transaction.

        An id already labelled gets a new event, which becomes its label (an edit). An id
        never asked is accepted and its event flagged ``unsolicited``. Nothing is written if
        anything is wrong.

        Parameters
        ----------
        ids : sequence of pool ids
            Distinct ids of the pool.
        labels : sequence
            One label per id; in ``classes`` where the session has them.
        annotator : str or sequence of str, default=None
            Who labelled: one name for all, or one per id.
        lead_time : float or sequence of float, default=None
            Seconds spent labelling, one for all or one per id.
        note : str or sequence of str, default=None
            A free-text note, one for all or one per id.

        Returns
        -------
        n_events : int
            The events written: ``len(ids)``.

        Raises
        ------
        ValueError
            An unknown or repeated id, a label outside ``classes``, mismatched lengths.
        """
        ids = self._check_ids(ids)
        labels = self._check_labels(labels, len(ids))
        annotators = _per_id(annotator, len(ids), "annotator", _check_text)
        lead_times = _per_id(lead_time, len(ids), "lead_time", _check_seconds)
        notes = _per_id(note, len(ids), "note", _check_text)
        if not ids:
            return 0
        rows = list(zip(ids, labels, annotators, lead_times, notes, strict=True))
        return retry_busy(lambda: self._write_events("label", rows), self.path)

    def _write_events(self, kind, rows):
        conn = self._db()
        with self._lock, transaction(conn):
            if kind == "label" and self._meta["classes"] is None:
                existing = conn.execute(
                    "SELECT label FROM label_events WHERE kind = 'label' LIMIT 1"
                ).fetchone()
                if existing is not None and isinstance(existing[0], str) != isinstance(
                    rows[0][1], str
                ):
                    raise ValueError(
                        f"labels must be of the kind already recorded ({existing[0]!r}): all "
                        f"strings or all numbers, got {rows[0][1]!r}"
                    )
            if kind == "delete":
                labelled = {row[0] for row in conn.execute("SELECT pool_id FROM current_labels")}
                missing = [row[0] for row in rows if row[0] not in labelled]
                if missing:
                    raise ValueError(f"ids: {_show(missing)} have no label to delete")
            now = _now()
            for pid, label, annotator, lead_time, note in rows:
                asked = conn.execute(
                    "SELECT 1 FROM queries WHERE pool_id = ? LIMIT 1", (pid,)
                ).fetchone()
                cursor = conn.execute(
                    "INSERT INTO label_events (pool_id, kind, label, annotator, time, "
                    "lead_time, unsolicited, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (pid, kind, label, annotator, now, lead_time, int(asked is None), note),
                )
                if kind != "delete":
                    conn.execute(
                        "UPDATE queries SET answered_by = ? WHERE pool_id = ? AND "
                        "answered_by IS NULL",
                        (cursor.lastrowid, pid),
                    )
            _pause(f"{'record' if kind == 'label' else kind}:in_transaction")
        return len(rows)

    def delete(self, ids, *, annotator=None, note=None):
        """Withdraw the labels of ``ids``: one deletion event each, in one transaction. The
        ids become unlabelled (and may be asked again).

        Parameters
        ----------
        ids : sequence of pool ids
            Distinct ids that have a label now.
        annotator : str or sequence of str, default=None
        note : str or sequence of str, default=None

        Returns
        -------
        n_events : int
        """
        ids = self._check_ids(ids)
        annotators = _per_id(annotator, len(ids), "annotator", _check_text)
        notes = _per_id(note, len(ids), "note", _check_text)
        if not ids:
            return 0
        rows = [(pid, None, a, None, n) for pid, a, n in zip(ids, annotators, notes, strict=True)]
        return retry_busy(lambda: self._write_events("delete", rows), self.path)

    def skip(self, ids, *, annotator=None, note=None):
        """Pass on ``ids`` without labelling them: one skip event each. A skipped id is no
        longer pending and is not asked again; labelling it later is still allowed.

        Parameters
        ----------
        ids : sequence of pool ids
        annotator : str or sequence of str, default=None
        note : str or sequence of str, default=None

        Returns
        -------
        n_events : int
        """
        ids = self._check_ids(ids)
        annotators = _per_id(annotator, len(ids), "annotator", _check_text)
        notes = _per_id(note, len(ids), "note", _check_text)
        if not ids:
            return 0
        rows = [(pid, None, a, None, n) for pid, a, n in zip(ids, annotators, notes, strict=True)]
        return retry_busy(lambda: self._write_events("skip", rows), self.path)

    # -- fitting ---------------------------------------------------------------------------

    def _labelled(self):
        """``(ids, labels, last_event_id)`` of the current labels, in pool order."""
        conn = self._db()
        with self._lock:
            conn.execute("BEGIN")
            try:
                rows = conn.execute("SELECT pool_id, label FROM current_labels").fetchall()
                last = conn.execute("SELECT MAX(event_id) FROM label_events").fetchone()[0]
            finally:
                conn.execute("COMMIT")
        rows.sort(key=lambda row: self._positions[row[0]])
        return [r[0] for r in rows], [r[1] for r in rows], last or 0

    def _can_fit(self):
        return self._read("SELECT COUNT(DISTINCT label) FROM current_labels")[0][0] >= 2

    def _refit_first(self):
        with self._fit_lock:
            if self.model_version == 0 and self._can_fit():
                self.refit()

    def refit(self):
        """Fit a fresh clone of the learner on the current labels, save it as a checkpoint
        and make it the current model.

        The fit runs without holding the database, so labels may be recorded meanwhile (from
        another thread or process); they count from the next refit.

        Returns
        -------
        model_version : int
            The new model's version.

        Raises
        ------
        ValueError
            Fewer than two classes among the labels.
        """
        ids, labels, last_event = self._labelled()
        distinct = set(labels)
        if len(distinct) < 2:
            raise ValueError(
                f"refit needs labels of at least 2 classes; the session has {len(ids)} "
                f"labels of {len(distinct)} class{'es' if len(distinct) != 1 else ''}"
            )
        learner = clone(self._template).set_params(
            budget=None, random_state=self._meta["base_seed"]
        )
        learner.fit(self._pool.rows(ids), np.asarray(labels))
        _pause("refit:fitted")
        checkpoint_dir = self.path + ".checkpoints"
        file, digest = _write_checkpoint(checkpoint_dir, learner)
        _pause("refit:written")

        def commit():
            conn = self._db()
            with self._lock, transaction(conn):
                version = conn.execute("SELECT MAX(model_version) FROM checkpoints").fetchone()
                version = version[0] + 1
                conn.execute(
                    "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?)",
                    (version, file, digest, len(ids), last_event, _now()),
                )
                _pause("refit:in_transaction")
            self._model = (version, learner)
            return version

        return retry_busy(commit, self.path)

    # -- export ----------------------------------------------------------------------------

    def _label_rows(self):
        rows = self._read(
            "SELECT pool_id, label, annotator, time, lead_time, note, unsolicited, event_id "
            "FROM current_labels"
        )
        rows.sort(key=lambda row: self._positions[row[0]])
        return rows

    def labels(self):
        """The current labels, one row per labelled id, in pool order.

        Returns
        -------
        labels : pandas.DataFrame
            Columns ``id``, ``label``, ``annotator``, ``time`` (UTC), ``lead_time``
            (seconds), ``note``, ``unsolicited`` (never asked) and ``event_id``.
        """
        pandas = _pandas()
        columns = [
            "id",
            "label",
            "annotator",
            "time",
            "lead_time",
            "note",
            "unsolicited",
            "event_id",
        ]
        frame = pandas.DataFrame(self._label_rows(), columns=columns)
        frame["time"] = pandas.to_datetime(frame["time"], unit="s", utc=True)
        frame["unsolicited"] = frame["unsolicited"].astype(bool)
        return frame

    def export_csv(self, path):
        """Write the current labels to a CSV file (columns as :meth:`labels`, times in ISO
        8601 UTC); needs no pandas.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        n_rows : int
        """
        rows = self._label_rows()
        with open(os.fspath(path), "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["id", "label", "annotator", "time", "lead_time", "note", "unsolicited", "event_id"]
            )
            for pid, label, annotator, t, lead, note, unsolicited, event in rows:
                writer.writerow(
                    [
                        pid,
                        label,
                        annotator or "",
                        _iso(t),
                        "" if lead is None else lead,
                        note or "",
                        bool(unsolicited),
                        event,
                    ]
                )
        return len(rows)

    def audit_log(self):
        """Every query, label event and checkpoint, in the order they happened.

        Returns
        -------
        log : pandas.DataFrame
            One row per entry: ``time`` (UTC), ``kind`` (``"query"``, ``"label"``,
            ``"delete"``, ``"skip"``, ``"refit"``), ``id``, ``label``, ``annotator``,
            ``lead_time``, ``note``, ``unsolicited``, and for queries ``round``, ``rank``,
            ``strategy``, ``score``, ``seed``, ``params_hash``, ``answered_by``;
            ``model_version`` for queries (the model that asked) and refits (the new one).
        """
        pandas = _pandas()
        conn = self._db()
        with self._lock:
            conn.execute("BEGIN")
            try:
                queries = conn.execute(
                    "SELECT time, query_id, pool_id, round, rank, strategy, score, "
                    "model_version, params_hash, seed, answered_by FROM queries"
                ).fetchall()
                events = conn.execute(
                    "SELECT time, event_id, kind, pool_id, label, annotator, lead_time, note, "
                    "unsolicited FROM label_events"
                ).fetchall()
                fits = conn.execute(
                    "SELECT time, model_version, n_labels FROM checkpoints WHERE model_version > 0"
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        entries = []
        for t, qid, pid, rnd, rank, strategy, score, version, phash, seed, answered in queries:
            entries.append(
                {
                    "time": t,
                    "order": (t, 0, qid),
                    "kind": "query",
                    "id": pid,
                    "round": rnd,
                    "rank": rank,
                    "strategy": strategy,
                    "score": score,
                    "model_version": version,
                    "params_hash": phash,
                    "seed": seed,
                    "answered_by": answered,
                }
            )
        for t, eid, kind, pid, label, annotator, lead, note, unsolicited in events:
            entries.append(
                {
                    "time": t,
                    "order": (t, 1, eid),
                    "kind": kind,
                    "id": pid,
                    "label": label,
                    "annotator": annotator,
                    "lead_time": lead,
                    "note": note,
                    "unsolicited": bool(unsolicited),
                    "event_id": eid,
                }
            )
        for t, version, n_labels in fits:
            entries.append(
                {
                    "time": t,
                    "order": (t, 2, version),
                    "kind": "refit",
                    "model_version": version,
                    "n_labels": n_labels,
                }
            )
        entries.sort(key=lambda e: e.pop("order"))
        columns = [
            "time",
            "kind",
            "id",
            "label",
            "annotator",
            "lead_time",
            "note",
            "unsolicited",
            "event_id",
            "round",
            "rank",
            "strategy",
            "score",
            "model_version",
            "params_hash",
            "seed",
            "answered_by",
            "n_labels",
        ]
        frame = pandas.DataFrame(entries, columns=columns, dtype=object)
        frame["time"] = pandas.to_datetime(frame["time"].astype(float), unit="s", utc=True)
        integers = [
            "event_id",
            "round",
            "rank",
            "model_version",
            "seed",
            "answered_by",
            "n_labels",
        ] + (["id"] if self._meta["id_kind"] == "int" else [])
        for column in integers:
            frame[column] = frame[column].astype("Int64")
        for column in ("lead_time", "score"):
            frame[column] = frame[column].astype("Float64")
        frame["unsolicited"] = frame["unsolicited"].astype("boolean")
        return frame


def _pandas():
    from .._dependencies import import_optional

    return import_optional("pandas", extra="dev")


def _check_path(path):
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__} {path!r}"
        ) from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path


def _read_meta(conn, path):
    try:
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path!r} is a corrupt session database: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise StoreError(f"{path!r}: the session's meta table is damaged ({exc})") from exc
    if meta.get("format") != _FORMAT:
        raise StoreError(f"{path!r} is not an activekit session (format {meta.get('format')!r})")
    needed = {"id_kind", "classes", "strategy", "params_hash", "base_seed"}
    missing = needed - set(meta)
    if missing:
        raise StoreError(f"{path!r}: the session's meta table lacks {sorted(missing)}")
    return meta


def _write_checkpoint(directory, learner):
    """Dump ``learner`` to a new file in ``directory`` (written, synced, then renamed into
    place: a ``.joblib`` file there is always whole); its name and SHA-256."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(learner, buffer)
    data = buffer.getvalue()
    name = f"model-{uuid.uuid4().hex[:16]}.joblib"
    partial = os.path.join(directory, name + ".partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, os.path.join(directory, name))
    return name, hashlib.sha256(data).hexdigest()


def _remove_session_files(path):
    """Remove a session at ``path``: the database, its WAL files, its checkpoints."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    checkpoint_dir = path + ".checkpoints"
    if os.path.isdir(checkpoint_dir):
        for name in os.listdir(checkpoint_dir):
            if name.startswith("model-") and name.endswith((".joblib", ".partial")):
                os.remove(os.path.join(checkpoint_dir, name))
