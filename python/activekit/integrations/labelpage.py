"""A labelling page of our own: ``activekit label`` serves the next queried items of a
:class:`~activekit.session.LabelingSession` on ``127.0.0.1`` and records what a person answers.

The page shows each item's row (numbers as a table, text columns as text, image columns as
images served only from under the data file's folder), a key per class, skip, undo, and live
progress: labels so far, per-class counts, the model's accuracy on a held-out set (when one is
given) and its learning curve as an inline SVG sparkline. After each answered batch the
session refits on a background thread; the page waits for the new model before asking again,
so every batch is chosen by the model that saw every earlier label.

Flask, with werkzeug's threaded server: the same choice as the Label Studio backend (the
server is small and synchronous; ``app.test_client()`` drives the unit tests). Flask is
imported only by :func:`create_app` (``pip install "activekit[label]"``).

Safety: the server listens on 127.0.0.1 only, answers only requests whose Host is
``127.0.0.1`` or ``localhost`` (a DNS-rebinding page cannot talk to it), accepts changes only
as ``application/json`` POSTs (a cross-site form cannot send them without a CORS preflight,
which it never grants), and sends a Content-Security-Policy that allows its own files only. The
session's server lease (:class:`activekit.session.ServerLease`) keeps a second page, or a Label
Studio backend, off the same session; the operating system releases it when the process ends,
however it ends.

Examples
--------
>>> from activekit.integrations.labelpage import sparkline_svg
>>> svg = sparkline_svg([(10, 0.5), (20, 0.75), (30, 0.875)])
>>> svg.startswith("<svg") and "<polyline" in svg
True
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import json
import math
import os
import struct
import threading
import urllib.parse
import zlib
from pathlib import Path

import numpy as np

from ..session import ServerLease, SessionBusyError

__all__ = [
    "DataTable",
    "SessionBusyError",
    "create_app",
    "load_test_set",
    "make_server",
    "open_session",
    "sparkline_svg",
    "write_digits_demo",
]

STATIC = Path(__file__).with_name("labelpage")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
ALLOWED_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_PORT = 8765


# -- the data file -----------------------------------------------------------------------------


def _read_csv(path, what):
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.reader(handle) if any(cell.strip() for cell in r)]
    except FileNotFoundError:
        raise ValueError(f"{what}: no such file: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc}") from None
    if len(rows) < 2:
        raise ValueError(f"{what}: {path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise ValueError(f"{what}: {path} names the columns {twice} more than once")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{what}: {path}, line {line}: {len(row)} fields, expected {len(header)}"
            )
    return header, [[cell.strip() for cell in row] for row in rows[1:]]


def _as_float(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_labels(values):
    """Labels as ints when every one is an integer, else as strings (as the CLI reads CSVs).

    >>> parse_labels(["1", "0", "2"])
    [1, 0, 2]
    >>> parse_labels(["cat", "dog"])
    ['cat', 'dog']
    """
    values = [str(v).strip() for v in values]
    try:
        return [int(v) for v in values]
    except ValueError:
        return values


class DataTable:
    """The data file behind the page: its ids, its columns by kind and its numeric features.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header row. Numeric columns are the model's features; a column whose
        every value ends in an image suffix (``.png``, ``.jpg``, ...) holds image paths,
        relative to the file's folder, and is shown as images; any other column is shown as
        text.
    id_column : str, default=None
        The column of unique item ids; ``None`` uses the row number (0 for the first data
        row).
    exclude : sequence of str, default=()
        Columns neither shown nor learnt from (a label column left in the file, say).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "pool.csv").write_text("name,x,y,photo\\na,1,2,a.png\\nb,3,4,b.png\\n")
    >>> table = DataTable(folder / "pool.csv", id_column="name")
    >>> table.ids, table.features, table.images, table.texts
    (['a', 'b'], ['x', 'y'], ['photo'], [])
    >>> table.rows_for(["b"])
    array([[3., 4.]])
    """

    def __init__(self, path, *, id_column=None, exclude=()):
        self.path = Path(path)
        self.folder = self.path.resolve().parent
        header, rows = _read_csv(self.path, "--data")
        self.header = header
        if id_column is not None and id_column not in header:
            raise ValueError(f"--id-column {id_column!r} is not a column of {path}: {header}")
        self.id_column = id_column
        if id_column is None:
            self.ids = list(range(len(rows)))
        else:
            j = header.index(id_column)
            self.ids = [row[j] for row in rows]
            empty = [line for line, value in enumerate(self.ids, start=2) if not value]
            if empty:
                raise ValueError(f"--id-column {id_column!r} is empty on line {empty[0]}")
            seen, twice = set(), []
            for value in self.ids:
                if value in seen:
                    twice.append(value)
                seen.add(value)
            if twice:
                raise ValueError(
                    f"--id-column {id_column!r} repeats the ids {sorted(set(twice))[:5]}; "
                    "ids must be unique"
                )
        self.index = {str(item): i for i, item in enumerate(self.ids)}
        self.features, self.images, self.texts = [], [], []
        for j, name in enumerate(header):
            if name == id_column or name in exclude:
                continue
            column = [row[j] for row in rows]
            filled = [v for v in column if v]
            if filled and all(_as_float(v) is not None for v in filled):
                if len(filled) < len(column):
                    line = column.index("") + 2
                    raise ValueError(
                        f"{path}, line {line}: the numeric column {name!r} has no value; "
                        "features must all be numbers"
                    )
                self.features.append(name)
            elif filled and all(v.lower().endswith(IMAGE_SUFFIXES) for v in filled):
                self.images.append(name)
            else:
                self.texts.append(name)
        if not self.features:
            raise ValueError(
                f"{path} has no numeric columns; the model learns from numeric features (image "
                "and text columns are only shown), so add features (an embedding, say) as "
                "numeric columns"
            )
        self._rows = rows
        cols = [header.index(name) for name in self.features]
        self.X = np.array([[float(row[j]) for j in cols] for row in rows])

    def __len__(self):
        return len(self.ids)

    def row_of(self, item):
        """The row number of an id (given as the id or its string), or KeyError."""
        return self.index[str(item)]

    def rows_for(self, ids):
        """The feature rows of ``ids``: the session's pool loader."""
        try:
            rows = [self.index[str(item)] for item in ids]
        except KeyError as exc:
            raise ValueError(
                f"id {exc.args[0]!r} of the session is not in the data file {self.path}"
            ) from None
        return self.X[rows]

    def item(self, item):
        """What the page shows of one id: numbers, texts and image addresses."""
        i = self.row_of(item)
        row = self._rows[i]
        column = self.header.index
        key = str(self.ids[i])
        return {
            "id": key,
            "numbers": [[name, row[column(name)]] for name in self.features],
            "texts": [[name, row[column(name)]] for name in self.texts],
            "images": [
                [name, f"/media/{k}/{urllib.parse.quote(key, safe='')}"]
                for k, name in enumerate(self.images)
                if row[column(name)]
            ],
        }

    def image_path(self, key, k):
        """The file of image column ``k`` of id ``key``, or None when there is none or it lies
        outside the data file's folder."""
        if key not in self.index or not 0 <= k < len(self.images):
            return None
        value = self._rows[self.index[key]][self.header.index(self.images[k])]
        if not value:
            return None
        path = (self.folder / value).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return None
        return path


def _target(header, path, target):
    if target is None:
        target = next((t for t in ("label", "target") if t in header), None)
        if target is None:
            raise ValueError(
                f"--test {path} has no 'label' or 'target' column; name its label column "
                "with --target"
            )
    elif target not in header:
        raise ValueError(f"--target {target!r} is not a column of --test {path}: {header}")
    return target


def label_column(path, target=None):
    """The label column of the held-out CSV at ``path``: ``target``, checked, or by default
    ``label`` or ``target``, whichever it has."""
    header, _ = _read_csv(path, "--test")
    return _target(header, path, target)


def load_test_set(path, features, target=None):
    """``(X, y)`` of a held-out CSV: the data file's feature columns and a label column
    (``target``; by default ``label`` or ``target``, whichever it has)."""
    header, rows = _read_csv(path, "--test")
    target = _target(header, path, target)
    missing = [name for name in features if name not in header]
    if missing:
        raise ValueError(f"--test {path} lacks the data file's feature columns {missing}")
    cols = [header.index(name) for name in features]
    X = np.empty((len(rows), len(cols)))
    for i, row in enumerate(rows):
        for k, j in enumerate(cols):
            value = _as_float(row[j])
            if value is None:
                raise ValueError(
                    f"--test {path}, line {i + 2}: feature {header[j]!r} has the value "
                    f"{row[j]!r}; features must be finite numbers"
                )
            X[i, k] = value
    t = header.index(target)
    if any(not row[t] for row in rows):
        raise ValueError(f"--test {path}: the label column {target!r} has empty values")
    return X, parse_labels(row[t] for row in rows)


# -- the session -------------------------------------------------------------------------------


def open_session(
    path,
    data,
    *,
    classes=None,
    estimator=None,
    query_strategy="margin",
    batch_size=10,
    random_state=0,
):
    """Open the session at ``path`` over ``data`` (a :class:`DataTable`), or create it there.

    A new session needs ``classes`` (the page's keys) and uses ``estimator`` (``None``: a
    logistic regression), ``query_strategy``, ``batch_size`` and ``random_state``; an existing
    one keeps its own, and ``classes``, when given, must match them."""
    from ..session import LabelingSession

    if Path(path).exists():
        session = LabelingSession.open(path, data.rows_for)
        if classes is not None and [str(c) for c in classes] != [str(c) for c in session.classes]:
            session.close()
            raise ValueError(
                f"--classes {list(classes)} differ from the session's classes "
                f"{list(session.classes)}"
            )
        return session
    if not classes:
        raise ValueError(
            "a new session needs its classes: give --classes (comma-separated) or a --test "
            "set to take them from"
        )
    if len(set(map(str, classes))) != len(classes):
        raise ValueError(f"--classes {list(classes)} repeat a class")
    from .._learner import ActiveLearningClassifier

    learner = ActiveLearningClassifier(
        estimator=estimator,
        query_strategy=query_strategy,
        batch_size=batch_size,
        random_state=random_state,
    )
    return LabelingSession.create(path, learner, data.ids, data.rows_for, classes=list(classes))


# -- the sparkline -----------------------------------------------------------------------------


def sparkline_svg(points, *, width=240, height=56):
    """An inline SVG learning curve: ``points`` are ``(labels, accuracy)`` pairs, accuracy in
    [0, 1] drawn on a fixed 0..1 scale (so that a flat curve looks flat)."""
    pad = 4
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
    )
    if not points:
        return head + "<title>no accuracy yet</title></svg>"
    xs = [float(n) for n, _ in points]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1.0

    def x(n):
        return pad + (width - 2 * pad) * ((float(n) - lo) / span if hi > lo else 0.5)

    def y(a):
        return pad + (height - 2 * pad) * (1.0 - min(max(float(a), 0.0), 1.0))

    coords = " ".join(f"{x(n):.1f},{y(a):.1f}" for n, a in points)
    last_n, last_a = points[-1]
    title = f"accuracy {last_a:.3f} at {int(last_n)} labels ({len(points)} fits)"
    return (
        f"{head}<title>{title}</title>"
        f'<line class="axis" x1="{pad}" y1="{y(0)}" x2="{width - pad}" y2="{y(0)}" '
        'stroke="#c8ccd2" stroke-width="1"/>'
        f'<polyline points="{coords}" fill="none" stroke="#e76f51" stroke-width="2.5" '
        'stroke-linejoin="round" stroke-linecap="round"/>'
        f'<circle cx="{x(last_n):.1f}" cy="{y(last_a):.1f}" r="3.5" fill="#e76f51"/></svg>'
    )


# -- the page's state --------------------------------------------------------------------------


class _Page:
    """What the server keeps besides the session: skips, the undo stack, the learning curve
    and the background fit."""

    def __init__(self, session, data, test, annotator):
        self.session = session
        self.data = data
        self.test = test
        self.annotator = annotator
        missing = [i for i in session.pool_ids if str(i) not in data.index]
        if missing:
            raise ValueError(
                f"{len(missing)} of the session's {len(session.pool_ids)} ids are not ids of "
                f"the data file {data.path} (first: {missing[:5]}); check --id-column"
            )
        self.ids = {str(i): i for i in session.pool_ids}  # the page's keys -> session ids
        self.classes = list(session.classes)
        if not self.classes:
            raise ValueError(
                f"the session {session.path!r} has no classes; the page needs them for its keys"
            )
        self.lock = threading.RLock()
        self.undo_stack = []  # (key, "label" | "skip") done through this page, latest last
        self.redo = []  # keys whose answer was undone: shown first, to answer again
        self.fit_thread = None
        self.fit_again = False
        self.fit_error = None
        self.closed = False
        base = str(session.path)
        self.lock_file = ServerLease(base, "the labelling page")
        self.curve_path = Path(base + ".labelpage.json")
        self.curve = self._load_curve()
        # A batch answered but not fitted (the last page stopped first), or a model never
        # scored: catch up in the background.
        with self.lock:
            if not self.session.pending() and self._stale():
                self._start_fit(refit=True)
            elif (
                self.session.model_version
                and self.test is not None
                and not any(p["model_version"] == self.session.model_version for p in self.curve)
            ):
                self._start_fit(refit=False)

    # curve persistence: one JSON file beside the session, tied to the test set's content.

    def _test_digest(self):
        if self.test is None:
            return None
        X, y = self.test
        h = hashlib.sha256(np.ascontiguousarray(X, dtype=float).tobytes())
        h.update(json.dumps([str(v) for v in y]).encode())
        return h.hexdigest()

    def _load_curve(self):
        try:
            saved = json.loads(self.curve_path.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(saved, dict) or saved.get("test") != self._test_digest():
            return []
        curve = saved.get("curve")
        return curve if isinstance(curve, list) else []

    def _save_curve(self):
        tmp = self.curve_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"test": self._test_digest(), "curve": self.curve}))
        os.replace(tmp, self.curve_path)

    # the background fit

    def _stale(self):
        """Whether labels were given or withdrawn since the last fit (skips change no
        model)."""
        kinds = list(self.session.audit_log()["kind"])
        changes = [i for i, kind in enumerate(kinds) if kind in ("label", "delete")]
        fits = [i for i, kind in enumerate(kinds) if kind == "refit"]
        return bool(changes) and (not fits or changes[-1] > fits[-1])

    def _start_fit(self, refit=True):
        if self.fit_thread is not None:
            self.fit_again = self.fit_again or refit
            return
        self.fit_thread = threading.Thread(
            target=self._fit_loop, args=(refit,), name="activekit-labelpage-fit", daemon=True
        )
        self.fit_thread.start()

    def _fit_loop(self, refit):
        while True:
            try:
                if refit:
                    self.session.refit()
                self._score()
                error = None
            except Exception as exc:  # reported on the page; the thread must not die silently
                error = " ".join(f"{type(exc).__name__}: {exc}".split())
            with self.lock:
                self.fit_error = error
                if self.fit_again and not self.closed:
                    self.fit_again, refit = False, True
                    continue
                self.fit_thread = None
                return

    def _score(self):
        version = self.session.model_version
        if self.test is None or version == 0:
            return
        X, y = self.test
        predicted = np.asarray(self.session.learner.predict(X))
        accuracy = float(np.mean(predicted.astype(str) == np.asarray(y).astype(str)))
        # The labels the model was fitted on (labels given during the fit count later).
        log = self.session.audit_log()
        fits = log[(log["kind"] == "refit") & (log["model_version"] == version)]
        n_labels = int(fits["n_labels"].iloc[0]) if len(fits) else self.session.n_labeled
        with self.lock:
            self.curve = [p for p in self.curve if p["model_version"] != version]
            self.curve.append(
                {
                    "n_labels": n_labels,
                    "model_version": int(version),
                    "accuracy": accuracy,
                }
            )
            self.curve.sort(key=lambda p: p["model_version"])
            self._save_curve()

    def close(self):
        with self.lock:
            self.closed = True
            thread = self.fit_thread
        if thread is not None:
            thread.join()
        if self.lock_file is not None:
            self.lock_file.release()
            self.lock_file = None

    # what the API does

    def config(self):
        return {
            "classes": [
                {"value": c, "name": str(c), "key": key}
                for c, key in zip(self.classes, shortcut_keys(self.classes), strict=True)
            ],
            "skip_key": " ",
            "undo_keys": ["Backspace", "Ctrl+Z"],
            "has_test": self.test is not None,
            "n_pool": len(self.ids),
            "batch_size": int(self.session.learner.batch_size),
            "data": self.data.path.name,
        }

    def next_items(self):
        with self.lock:
            keys = list(self.redo)
            waiting = self.fit_thread is not None
            if not waiting:
                # A new batch only once undone items are answered again: it must come from a
                # model fitted on their answers.
                ask = self.session.pending if self.redo else self.session.next_batch
                keys += [str(i) for i in ask() if str(i) not in keys]
            return {
                "items": [self.data.item(k) for k in keys],
                "waiting": waiting and not keys,
                "model_version": int(self.session.model_version),
            }

    def _answer(self, key, kind, write):
        """Check that ``key`` waits for an answer, ``write`` it, and fit once the batch is
        answered."""
        with self.lock:
            pending = [str(i) for i in self.session.pending()]
            if key not in pending and key not in self.redo:
                raise _BadRequest(_not_waiting(key, self.data, pending))
            n = write(self.ids[key])
            self.undo_stack.append((key, kind))
            if key in self.redo:
                self.redo.remove(key)
            if not self.redo and not self.session.pending() and self._stale():
                self._start_fit(refit=True)
            return int(n)

    def label(self, key, label, lead_time):
        def write(item):
            return self.session.record(
                [item], [label], annotator=self.annotator, lead_time=lead_time
            )

        return {"recorded": self._answer(key, "label", write), "id": key, "label": label}

    def skip(self, key):
        def write(item):
            return self.session.skip([item], annotator=self.annotator)

        return {"recorded": self._answer(key, "skip", write), "id": key}

    def undo(self):
        """Undo the last answer given through this page: a label gets a deletion event (a
        skip has none: the skip stays in the log); either way the item is shown again
        first."""
        with self.lock:
            if not self.undo_stack:
                raise _BadRequest(
                    "nothing to undo: no label or skip has been given through this page "
                    "since it started"
                )
            key, kind = self.undo_stack[-1]
            if kind == "label":
                self.session.delete([self.ids[key]], annotator=self.annotator)
            self.undo_stack.pop()
            if key not in self.redo:
                self.redo.insert(0, key)
            return {"undone": key, "kind": kind}

    def progress(self):
        with self.lock:
            labels = self.session.labels()
            counts = {str(c): 0 for c in self.classes}
            for value in labels["label"] if len(labels) else []:
                counts[str(value)] = counts.get(str(value), 0) + 1
            curve = [dict(p) for p in self.curve]
            return {
                "n_labeled": int(self.session.n_labeled),
                "n_pool": len(self.ids),
                "pending": len(self.session.pending()),
                "model_version": int(self.session.model_version),
                "fitting": self.fit_thread is not None,
                "fit_error": self.fit_error,
                "counts": counts,
                "has_test": self.test is not None,
                "n_test": 0 if self.test is None else len(self.test[1]),
                "accuracy": curve[-1]["accuracy"] if curve else None,
                "curve": curve,
                "sparkline": sparkline_svg([(p["n_labels"], p["accuracy"]) for p in curve]),
                "can_undo": bool(self.undo_stack),
            }


class _BadRequest(Exception):
    """A request the page refuses, with what to do instead; nothing was recorded."""


def _not_waiting(key, data, pending):
    if key not in data.index:
        return f"unknown id {key!r}: not an id of the data file {data.path.name}"
    return (
        f"id {key!r} is not waiting for a label (pending: {pending[:10]}); ask /api/next for "
        "the items to label"
    )


def shortcut_keys(classes):
    """The key of each class: the class itself when every class is one distinct character;
    else 1..9 for up to nine classes; else their distinct first letters; else 1..9 for the
    first nine and no key for the rest.

    >>> shortcut_keys([0, 1, 2])
    ['0', '1', '2']
    >>> shortcut_keys(["cat", "dog"])
    ['1', '2']
    >>> shortcut_keys([f"c{i}" for i in range(10)])[-2:]
    ['9', None]
    """
    names = [str(c) for c in classes]
    reserved = {" "}
    if all(len(n) == 1 for n in names) and len({n.lower() for n in names}) == len(names):
        if not reserved & set(names):
            return [n.lower() for n in names]
    if len(names) <= 9:
        return [str(i + 1) for i in range(len(names))]
    firsts = [n[:1].lower() for n in names]
    if all(f.isalpha() for f in firsts) and len(set(firsts)) == len(firsts):
        return firsts
    return [str(i + 1) if i < 9 else None for i in range(len(names))]


# -- the web application -----------------------------------------------------------------------


def create_app(session, data, *, test=None, annotator=None):
    """The labelling page's Flask application over an open ``session``.

    Parameters
    ----------
    session : LabelingSession
        The session to label; its pool ids must be ids of ``data``.
    data : DataTable
        What the page shows of each id.
    test : tuple (X, y), default=None
        A held-out set in the data's feature columns; the page then shows the accuracy of
        each model version on it and the learning curve.
    annotator : str, default=None
        Recorded with every label; ``None`` uses the login name.

    The page takes the session's server lease (:class:`activekit.session.ServerLease`; a
    second page or a Label Studio backend on the same session raises
    :class:`SessionBusyError`) and keeps its learning curve
    in ``<session>.labelpage.json``. The application's ``activekit_labelpage`` extension
    holds the page's state: ``app.extensions["activekit_labelpage"].close()`` waits for a
    running fit and releases the lock (the process's end releases it too).
    """
    from .._dependencies import import_optional

    flask = import_optional("flask", extra="label")
    if annotator is None:
        try:
            annotator = getpass.getuser()
        except (OSError, KeyError):
            annotator = "annotator"
    page = _Page(session, data, test, annotator)
    app = flask.Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.extensions["activekit_labelpage"] = page
    app.json.sort_keys = False

    def error(status, message):
        response = flask.jsonify(error=message)
        response.status_code = status
        return response

    @app.before_request
    def only_local():
        host = flask.request.host.rsplit(":", 1)[0] if flask.request.host else ""
        if host not in ALLOWED_HOSTS:
            return error(400, f"this page answers only on 127.0.0.1 or localhost, not {host!r}")
        if flask.request.method == "POST" and not flask.request.is_json:
            return error(400, "send a JSON object with the header Content-Type: application/json")
        return None

    @app.after_request
    def headers(response):
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
            "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if flask.request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(_BadRequest)
    def bad_request(exc):
        return error(400, str(exc))

    @app.errorhandler(404)
    def not_found(exc):
        return error(404, f"no such page: {flask.request.path}")

    @app.errorhandler(500)
    def failed(exc):
        cause = getattr(exc, "original_exception", None) or exc
        return error(500, " ".join(f"{type(cause).__name__}: {cause}".split()))

    @app.errorhandler(405)
    def not_allowed(exc):
        return error(405, f"{flask.request.method} is not allowed on {flask.request.path}")

    def body(*required):
        payload = flask.request.get_json(silent=True)
        if not isinstance(payload, dict):
            raise _BadRequest("the body must be a JSON object")
        missing = [name for name in required if name not in payload]
        if missing:
            raise _BadRequest(f"the JSON body lacks {', '.join(map(repr, missing))}")
        return payload

    def item_key(payload):
        key = payload["id"]
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise _BadRequest(f"'id' must be a string or an integer, got {key!r}")
        return str(key)

    @app.get("/")
    def index():
        return flask.send_from_directory(STATIC, "index.html")

    @app.get("/api/config")
    def config():
        return flask.jsonify(page.config())

    @app.get("/api/next")
    def next_items():
        return flask.jsonify(page.next_items())

    @app.post("/api/label")
    def label():
        payload = body("id", "label")
        key = item_key(payload)
        value = payload["label"]
        matches = [
            c
            for c in page.classes
            if not isinstance(value, bool | dict | list) and str(c) == str(value)
        ]
        if not matches:
            raise _BadRequest(
                f"label {value!r} is not one of the session's classes "
                f"{[str(c) for c in page.classes]}"
            )
        lead_time = payload.get("lead_time")
        if lead_time is not None and (
            isinstance(lead_time, bool)
            or not isinstance(lead_time, int | float)
            or not math.isfinite(lead_time)
            or lead_time < 0
        ):
            raise _BadRequest(
                f"'lead_time' must be a number of seconds >= 0 or null, got {lead_time!r}"
            )
        try:
            result = page.label(key, matches[0], lead_time)
        except ValueError as exc:  # the session's own check: nothing was written
            raise _BadRequest(str(exc)) from None
        return flask.jsonify({**result, "progress": page.progress()})

    @app.post("/api/skip")
    def skip():
        try:
            result = page.skip(item_key(body("id")))
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        return flask.jsonify({**result, "progress": page.progress()})

    @app.post("/api/undo")
    def undo():
        body()
        return flask.jsonify({**page.undo(), "progress": page.progress()})

    @app.get("/api/progress")
    def progress():
        return flask.jsonify(page.progress())

    @app.get("/media/<int:k>/<path:key>")
    def media(k, key):
        path = data.image_path(key, k)
        if path is None:
            return error(404, f"no image {k} for id {key!r} under {data.folder}")
        return flask.send_file(path)

    return app


def make_server(app, port=DEFAULT_PORT):
    """A threaded werkzeug server for ``app`` on 127.0.0.1 (``port=0``: any free port; the
    chosen one is ``server.server_port``). Call ``serve_forever()``, and ``shutdown()`` from
    another thread."""
    from werkzeug.serving import make_server as werkzeug_server

    return werkzeug_server("127.0.0.1", port, app, threaded=True)


# -- a demo data set ---------------------------------------------------------------------------


def _png_gray(pixels):
    """A grayscale 8-bit PNG of a 2-D uint8 array (no imaging library needed)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(height))

    def chunk(kind, payload):
        out = struct.pack(">I", len(payload)) + kind + payload
        return out + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def write_digits_demo(folder, *, n_test=300, scale=8, random_state=0):
    """Write scikit-learn's digits as a labelling campaign: ``pool.csv`` (an ``id``, an
    ``image`` path and the 64 pixels; no labels), ``images/<id>.png`` and ``test.csv`` (the
    64 pixels and ``label``, ``n_test`` rows held out). Returns the folder's paths as a dict.

    >>> import tempfile
    >>> paths = write_digits_demo(tempfile.mkdtemp(), n_test=100)
    >>> sorted(paths)
    ['folder', 'pool', 'test']
    >>> len(DataTable(paths["pool"], id_column="id"))
    1697
    """
    from sklearn.datasets import load_digits

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(random_state).permutation(len(y))
    test, pool = order[:n_test], order[n_test:]
    pixels = [f"pixel_{i}" for i in range(X.shape[1])]
    with (folder / "pool.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "image", *pixels])
        for i in pool:
            name = f"digit{i:04d}"
            ink = np.rint(255 - X[i].reshape(8, 8) * (255 / 16))  # dark ink on white
            image = np.kron(ink, np.ones((scale, scale)))
            (folder / "images" / f"{name}.png").write_bytes(_png_gray(image.astype(np.uint8)))
            out.writerow([name, f"images/{name}.png", *(int(v) for v in X[i])])
    with (folder / "test.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([*pixels, "label"])
        for i in test:
            out.writerow([*(int(v) for v in X[i]), int(y[i])])
    return {"folder": folder, "pool": folder / "pool.csv", "test": folder / "test.csv"}
