"""A Label Studio ML backend built on a labelling session.

Label Studio (https://labelstud.io) shows the tasks and takes the annotations; this backend
holds the model. It speaks Label Studio's ML backend protocol, read from the
``label-studio-ml`` backend project's ``api.py`` and from Label Studio's own
``ml/api_connector.py`` and ``webhooks/`` (1.23):

``GET /health``
    ``{"status": "UP", ...}``; Label Studio checks it before every other call.
``POST /setup``
    ``{"project": "<id>.<created timestamp>", "schema": <label config XML>, ...}``; answers
    ``{"model_version": ...}``. Label Studio calls it before each batch of predictions and
    takes the version it returns as the backend's current one.
``POST /predict``
    ``{"tasks": [{"id": ..., "data": {...}, ...}], "label_config": ..., "project": ...,
    "params": {...}}``; answers ``{"results": [one prediction per task, in order]}``, each
    ``{"result": [{"from_name", "to_name", "type": "choices", "value": {"choices": [label]}}],
    "score": s, "model_version": v}``.
``POST /webhook``
    The project's webhook (Label Studio creates it when the backend is connected, with the
    payload, for every action): ``{"action": "ANNOTATION_CREATED" | "ANNOTATION_UPDATED",
    "annotation": {"id", "result", "completed_by", "lead_time", "was_cancelled", "task", ...},
    "task": {"id", "data", ...}, "project": {...}}``; ``ANNOTATIONS_CREATED`` carries lists
    of both; ``ANNOTATIONS_DELETED`` carries only ``"annotations": [{"id": ...}]``;
    ``START_TRAINING`` asks for a retrain. Other actions are acknowledged and ignored.
``POST /train``
    The older form of "start training": a retrain, like ``START_TRAINING``.

How the session's ideas map onto Label Studio's:

- A task is a pool id through a field of its data (``id_field``, the ``--id-column`` of
  ``activekit serve labelstudio``): import tasks whose ``data`` hold that id.
- The prediction's label is the current model's, as a ``choices`` result for the project's
  ``<Choices>`` tag (its ``name`` and ``toName``); before the first model, the result is
  empty.
- The acquisition order is the prediction's ``score``: Label Studio's "uncertainty sampling"
  serves the task with the *lowest* score first, so the score is the task's position in the
  session's ranking of the unlabelled pool divided by its size (0 = most informative). The
  ranking covers the whole pool, not just the tasks of one request, so scores from different
  requests compare; it is computed once per model version. Labelled ids score 1.
- ``model_version`` is the session's, as a string (``"0"`` before the first fit). To have
  Label Studio serve tasks by score, set the project's model version to it (Settings, or
  ``PATCH /api/projects/<id>`` with ``model_version``) and its sampling to "Uncertainty
  sampling".
- An annotation is a label event: the choice as the label, ``completed_by`` as the annotator
  (``"label-studio:<user id>"``), ``lead_time`` in seconds, and a note naming the annotation,
  task and project (JSON) so a later deletion finds it. An update is a new event (an edit).
  A skipped (cancelled) annotation or one without a choice records nothing. Deleting an
  annotation withdraws the task's label if that annotation gave its current label.
- Once ``retrain_every`` labels (or deletions) were recorded since the current model read
  its labels (the session's ``labels_since_refit``, so the count survives a restart), the
  session is refitted on a worker thread, off the request thread; Label Studio's "Start
  training" (``START_TRAINING`` or ``/train``) refits at once. The new version is what
  ``/setup`` and ``/predict`` report next.
- One server per session: it holds the session's server lease
  (:class:`activekit.session.ServerLease`) while it runs, and a second backend, or a labelling
  page, on the same session fails with :class:`SessionBusyError`.

A payload that does not have the shape above, names a task whose data lack the id field, an
id outside the pool, or a label outside the project's choices (or the session's classes) gets
a 400 answer with ``{"status": "error", "error": <what is wrong>}`` and records nothing.

Why Flask: Label Studio's own ``label-studio-ml`` backend is a Flask app, so its protocol and
examples map one to one; the backend is small and synchronous (a request records an event or
predicts a batch; the slow part, refitting, is on its own thread), which needs nothing
asynchronous; Flask's test client runs the unit tests without a server, and werkzeug's
threaded server is enough on 127.0.0.1. Flask is imported only by :func:`create_app` (the
``labelstudio`` extra), so ``import activekit`` does not need it.

Examples
--------
>>> from activekit.integrations.labelstudio import parse_label_config
>>> config = parse_label_config(
...     '<View><Image name="img" value="$image"/>'
...     '<Choices name="digit" toName="img"><Choice value="0"/><Choice value="1"/></Choices>'
...     '</View>')
>>> config.from_name, config.to_name, config.choices
('digit', 'img', ('0', '1'))
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from numbers import Integral, Real

from .._dependencies import import_optional
from ..session import ServerLease, SessionBusyError

__all__ = [
    "LabelConfig",
    "LabelStudioBackend",
    "SessionBusyError",
    "create_app",
    "parse_label_config",
]

logger = logging.getLogger(__name__)

#: Webhook actions that become label events.
ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED")
#: Webhook actions that ask for a retrain.
TRAIN_ACTIONS = ("START_TRAINING",)
#: The annotator name of a Label Studio user.
ANNOTATOR_PREFIX = "label-studio:"


class PayloadError(ValueError):
    """A request that does not have the shape Label Studio sends; answered with a 400."""


@dataclass(frozen=True)
class LabelConfig:
    """The part of a Label Studio labelling config the backend uses: one ``<Choices>`` tag.

    Attributes
    ----------
    from_name : str
        The ``name`` of the ``<Choices>`` tag (results name it as ``from_name``).
    to_name : str
        Its ``toName``: the object tag the choice is about.
    choices : tuple of str
        The values a result may hold: each ``<Choice>``'s ``alias``, else its ``value``.
    """

    from_name: str
    to_name: str
    choices: tuple

    def result(self, label):
        """The prediction result for ``label``: one ``choices`` region, or ``[]`` when the
        label is none of the choices."""
        value = _choice_text(label)
        if value not in self.choices:
            return []
        return [
            {
                "from_name": self.from_name,
                "to_name": self.to_name,
                "type": "choices",
                "value": {"choices": [value]},
            }
        ]


def _choice_text(label):
    """A label as Label Studio writes a choice: ``3`` and ``3.0`` as ``"3"``."""
    if hasattr(label, "item"):
        label = label.item()
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return str(label)


def parse_label_config(xml, from_name=None):
    """The ``<Choices>`` tag of a Label Studio labelling config.

    Parameters
    ----------
    xml : str
        The labelling config (``label_config`` / ``schema`` in Label Studio's requests).
    from_name : str, default=None
        The ``name`` of the ``<Choices>`` tag to use when the config has several.

    Returns
    -------
    LabelConfig

    Raises
    ------
    ValueError
        Not XML; no ``<Choices>`` tag, several without ``from_name``, or none of that name;
        a ``<Choices>`` with ``choice="multiple"`` (the backend labels one class per task),
        without ``toName``, or without ``<Choice>`` values.
    """
    if not isinstance(xml, str) or not xml.strip():
        raise ValueError(f"label_config must be a non-empty XML string, got {xml!r}")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"label_config is not valid XML: {exc}") from None
    tags = [el for el in root.iter() if isinstance(el.tag, str) and el.tag.lower() == "choices"]
    if not tags:
        raise ValueError(
            "label_config has no <Choices> tag; the activekit backend serves classification "
            "projects (one <Choices> tag, one choice per task)"
        )
    if from_name is not None:
        named = [el for el in tags if el.get("name") == from_name]
        if not named:
            names = [el.get("name") for el in tags]
            raise ValueError(
                f"label_config has no <Choices name={from_name!r}>; its <Choices> tags: {names}"
            )
        tag = named[0]
    elif len(tags) > 1:
        names = [el.get("name") for el in tags]
        raise ValueError(
            f"label_config has {len(tags)} <Choices> tags {names}; name the one to use "
            "(from_name / --from-name)"
        )
    else:
        tag = tags[0]
    name, to_name = tag.get("name"), tag.get("toName")
    if not name or not to_name:
        raise ValueError("the <Choices> tag of label_config needs both name and toName")
    if (tag.get("choice") or "single").lower() == "multiple":
        raise ValueError(
            f'<Choices name="{name}"> has choice="multiple"; the activekit backend labels '
            "one class per task (use single choice)"
        )
    choices = tuple(
        el.get("alias") or el.get("value")
        for el in tag.iter()
        if isinstance(el.tag, str) and el.tag.lower() == "choice"
    )
    if not choices or not all(choices):
        raise ValueError(f'<Choices name="{name}"> needs <Choice value="..."> children')
    return LabelConfig(from_name=name, to_name=to_name, choices=choices)


def _object(value, what):
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _list(value, what):
    if not isinstance(value, list):
        raise PayloadError(f"{what} must be a JSON list, got {type(value).__name__}")
    return value


def _seconds(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise PayloadError(f"{what} must be a number of seconds, got {value!r}")
    if value < 0:
        raise PayloadError(f"{what} must be >= 0 seconds, got {value!r}")
    return float(value)


class _Retrainer:
    """Refits the session on a worker thread when ``every`` labels (label and deletion
    events) were recorded since the current model's labels were read, or when asked; one
    refit at a time. The count is the session's own (``labels_since_refit``), so it is kept
    across restarts and labels recorded during a refit count towards the next one."""

    def __init__(self, backend, every):
        self._backend = backend
        self.every = every
        self._cond = threading.Condition()
        self._check = bool(every)  # a backlog from before a restart is due at once
        self._forced = False
        self._busy = False
        self._closed = False
        self.last_error = None
        self.n_refits = 0
        self._thread = threading.Thread(
            target=self._run, name="activekit-labelstudio-retrain", daemon=True
        )
        self._thread.start()

    def labels_recorded(self):
        """Labels were recorded: refit if enough are new (on the worker thread)."""
        if self.every:
            with self._cond:
                self._check = True
                self._cond.notify_all()

    def request(self):
        """Refit now, whatever the count (on the worker thread)."""
        with self._cond:
            self._forced = True
            self._cond.notify_all()

    def wait_idle(self, timeout=None):
        """Wait until no refit runs or is due; ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._busy or self._check or self._forced:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    @property
    def busy(self):
        with self._cond:
            return self._busy or self._check or self._forced

    def close(self, timeout=None):
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _due(self):
        return self._backend.session.labels_since_refit >= self.every

    def _run(self):
        while True:
            with self._cond:
                while not (self._check or self._forced or self._closed):
                    self._cond.wait()
                if self._closed:
                    return
                forced = self._forced
                self._check = self._forced = False
                self._busy = True
            try:
                if forced or self._due():
                    version = self._backend.session.refit()
                    self._backend._ranks(version)  # warm the new version's ranking
                    self.last_error = None
                    self.n_refits += 1
                    logger.info("activekit: refitted, model version %s", version)
            except Exception as exc:  # the thread must survive a failed refit
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("activekit: refit failed: %s", self.last_error)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class LabelStudioBackend:
    """The ML backend's logic, without the web framework: :func:`create_app` routes requests
    to it. Parameters are those of :func:`create_app`."""

    def __init__(self, session, *, id_field="id", retrain_every=10, from_name=None):
        if not isinstance(id_field, str) or not id_field:
            raise ValueError(f"id_field must be a non-empty string, got {id_field!r}")
        if (
            isinstance(retrain_every, bool)
            or not isinstance(retrain_every, Integral)
            or retrain_every < 0
        ):
            raise ValueError(
                f"retrain_every must be an integer >= 0 (0: only on request), got {retrain_every!r}"
            )
        self._lock_file = ServerLease(session.path, "a Label Studio backend")
        self.session = session
        self.id_field = id_field
        self.from_name = from_name
        self._ids = {_choice_text(pid): pid for pid in session.pool_ids}
        self._configs = {}
        self._config_lock = threading.Lock()
        self._rank_lock = threading.Lock()
        self._rank_cache = (None, None)
        self.retrainer = _Retrainer(self, int(retrain_every))

    # -- pieces ----------------------------------------------------------------------------

    def config(self, xml):
        """The parsed label config (cached per config text); PayloadError if unusable."""
        with self._config_lock:
            if xml not in self._configs:
                try:
                    self._configs[xml] = parse_label_config(xml, self.from_name)
                except ValueError as exc:
                    raise PayloadError(str(exc)) from None
            return self._configs[xml]

    def pool_id(self, task, where="task"):
        """The pool id of a task (a dict with ``data``)."""
        task = _object(task, where)
        data = _object(task.get("data"), f"{where}['data']")
        if self.id_field not in data:
            raise PayloadError(
                f"{where} (Label Studio task {task.get('id')!r}) has no {self.id_field!r} in its "
                f"data (fields: {sorted(data)}); import tasks whose data hold the pool id"
            )
        value = data[self.id_field]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (str, Integral)):
            raise PayloadError(
                f"{where} (Label Studio task {task.get('id')!r}): {self.id_field!r} must be a "
                f"string or an integer, got {value!r}"
            )
        pid = self._ids.get(str(value))
        if pid is None:
            raise PayloadError(
                f"{where} (Label Studio task {task.get('id')!r}): {self.id_field!r} = {value!r} "
                f"is not in the session's pool of {len(self._ids)} ids"
            )
        return pid

    def _label(self, choice, config):
        """The session label for a Label Studio choice string."""
        if choice not in config.choices:
            raise PayloadError(
                f"choice {choice!r} is not one of the project's choices {list(config.choices)}"
            )
        for label in self.session.classes:
            if _choice_text(label) == choice:
                return label
        return choice

    def _ranks(self, version=None):
        """``(version, {pool id: position / n})`` over the unlabelled pool, by the session's
        ranking with the model of ``version`` (computed once per version)."""
        with self._rank_lock:
            if version is None:
                version = self.session.model_version
            cached_version, ranks = self._rank_cache
            if cached_version == version:
                return version, ranks
            labelled = set(self.session.labels()["id"].tolist())
            unlabelled = [pid for pid in self.session.pool_ids if pid not in labelled]
            ordered = self.session.ranking(unlabelled) if unlabelled else []
            n = max(len(ordered), 1)
            ranks = {pid: position / n for position, pid in enumerate(ordered)}
            self._rank_cache = (version, ranks)
            return version, ranks

    # -- the protocol ----------------------------------------------------------------------

    def health(self):
        return {
            "status": "UP",
            "model_class": "activekit",
            "model_version": str(self.session.model_version),
            "n_labeled": self.session.n_labeled,
            "retraining": self.retrainer.busy,
            "last_error": self.retrainer.last_error,
        }

    def setup(self, payload):
        payload = _object(payload, "the /setup body")
        schema = payload.get("schema")
        if schema is not None:
            self.config(schema)
        return {"model_version": str(self.session.model_version)}

    def predict(self, payload):
        payload = _object(payload, "the /predict body")
        tasks = _list(payload.get("tasks"), "'tasks'")
        config = self.config(payload.get("label_config"))
        ids = [self.pool_id(task, f"tasks[{i}]") for i, task in enumerate(tasks)]
        for _ in range(3):  # labels and scores of one model version, though a refit may land
            version, ranks = self._ranks()
            if version == 0:
                labels = [None] * len(ids)
            else:
                labels = list(self.session.predict(ids)) if ids else []
            if self.session.model_version == version:
                break
        model_version = str(version)
        return {
            "results": [
                {
                    "result": [] if label is None else config.result(label),
                    "score": ranks.get(pid, 1.0),
                    "model_version": model_version,
                }
                for pid, label in zip(ids, labels, strict=True)
            ]
        }

    def webhook(self, payload):
        payload = _object(payload, "the /webhook body")
        action = payload.get("action")
        if not isinstance(action, str):
            raise PayloadError(f"the /webhook body needs an 'action' string, got {action!r}")
        if action in ANNOTATION_ACTIONS:
            return self._annotations(action, payload)
        if action == "ANNOTATIONS_DELETED":
            return self._deleted(payload)
        if action in TRAIN_ACTIONS:
            self.retrainer.request()
            return {"status": "ok", "action": action, "retraining": True}
        return {"status": "ignored", "action": action}

    def train(self, payload):
        self.retrainer.request()
        return {"status": "ok", "retraining": True}

    def _annotations(self, action, payload):
        project = payload.get("project")
        xml = project.get("label_config") if isinstance(project, dict) else None
        if xml is None:
            raise PayloadError(
                f"the {action} webhook needs 'project' with its 'label_config' (Label Studio "
                "sends it when the webhook has send_payload)"
            )
        config = self.config(xml)
        annotations, tasks = payload.get("annotation"), payload.get("task")
        if action == "ANNOTATIONS_CREATED":
            annotations = _list(annotations, "'annotation'")
            tasks = _list(tasks, "'task'")
        else:
            annotations, tasks = [annotations], [tasks]
        tasks_by_id = {}
        for i, task in enumerate(tasks):
            task = _object(task, f"task[{i}]")
            tasks_by_id[task.get("id")] = task
        ids, labels, annotators, lead_times, notes = [], [], [], [], []
        skipped = []
        for i, annotation in enumerate(annotations):
            where = "annotation" if len(annotations) == 1 else f"annotation[{i}]"
            annotation = _object(annotation, where)
            task = tasks_by_id.get(annotation.get("task"))
            if task is None:
                if len(tasks) == 1 and len(annotations) == 1:
                    task = tasks[0]
                else:
                    raise PayloadError(
                        f"{where} is about task {annotation.get('task')!r}, which the payload's "
                        "'task' does not hold"
                    )
            pid = self.pool_id(task, "task")
            result = _list(annotation.get("result", []), f"{where}['result']")
            if annotation.get("was_cancelled"):
                skipped.append(pid)
                continue
            choices = []
            for j, region in enumerate(result):
                region = _object(region, f"{where}['result'][{j}]")
                if region.get("from_name") != config.from_name:
                    continue
                value = _object(region.get("value"), f"{where}['result'][{j}]['value']")
                chosen = _list(value.get("choices"), f"{where}['result'][{j}]['value']['choices']")
                choices.extend(chosen)
            if not choices:
                skipped.append(pid)
                continue
            if len(choices) > 1:
                raise PayloadError(
                    f"{where} chooses {choices} for {config.from_name!r}; the activekit "
                    "backend takes one class per task"
                )
            if not isinstance(choices[0], str):
                raise PayloadError(f"{where}: a choice must be a string, got {choices[0]!r}")
            if pid in ids:
                raise PayloadError(f"the payload annotates pool id {pid!r} twice")
            ids.append(pid)
            labels.append(self._label(choices[0], config))
            who = annotation.get("completed_by")
            if isinstance(who, dict):
                who = who.get("id", who.get("email"))
            annotators.append(None if who is None else f"{ANNOTATOR_PREFIX}{who}")
            lead_times.append(_seconds(annotation.get("lead_time"), f"{where}['lead_time']"))
            notes.append(
                json.dumps(
                    {
                        "source": "label-studio",
                        "annotation": annotation.get("id"),
                        "task": task.get("id"),
                        "project": project.get("id"),
                        "action": action,
                    },
                    sort_keys=True,
                )
            )
        recorded = 0
        if ids:
            recorded = self.session.record(
                ids, labels, annotator=annotators, lead_time=lead_times, note=notes
            )
            self.retrainer.labels_recorded()
        return {
            "status": "ok",
            "action": action,
            "recorded": recorded,
            "not_recorded": skipped,
            "model_version": str(self.session.model_version),
        }

    def _deleted(self, payload):
        annotations = _list(payload.get("annotations"), "'annotations'")
        wanted = set()
        for i, item in enumerate(annotations):
            item = _object(item, f"annotations[{i}]")
            value = item.get("id")
            if isinstance(value, bool) or not isinstance(value, Integral):
                raise PayloadError(f"annotations[{i}]['id'] must be an integer, got {value!r}")
            wanted.add(int(value))
        current = self.session.labels()
        ids = []
        for pid, note in zip(current["id"].tolist(), current["note"].tolist(), strict=True):
            try:
                meta = json.loads(note) if note else None
            except ValueError:
                continue
            if (
                isinstance(meta, dict)
                and meta.get("source") == "label-studio"
                and meta.get("annotation") in wanted
            ):
                ids.append(pid)
        deleted = 0
        if ids:
            deleted = self.session.delete(
                ids, note=json.dumps({"source": "label-studio", "deleted": sorted(wanted)})
            )
            self.retrainer.labels_recorded()
        return {"status": "ok", "action": "ANNOTATIONS_DELETED", "deleted": deleted}

    def close(self, timeout=None):
        """Stop the retrain worker (after the refit it runs, if any) and release the session's
        lock; the session stays open."""
        self.retrainer.close(timeout)
        if self._lock_file is not None:
            self._lock_file.release()
            self._lock_file = None


def create_app(session, *, id_field="id", retrain_every=10, from_name=None):
    """A Flask app serving Label Studio's ML backend protocol for ``session``.

    Parameters
    ----------
    session : activekit.session.LabelingSession
        The campaign: its pool ids, learner and labels. The app records annotations into it
        and refits it.
    id_field : str, default="id"
        The field of each task's ``data`` that holds its pool id.
    retrain_every : int, default=10
        Refit, on a worker thread, once this many labels (or deletions) were recorded since
        the current model read its labels; 0 refits only when Label Studio asks
        (``START_TRAINING`` or ``/train``).
    from_name : str, default=None
        The ``name`` of the ``<Choices>`` tag to use when the labelling config has several.

    Returns
    -------
    app : flask.Flask
        ``app.extensions["activekit.labelstudio"]`` is the :class:`LabelStudioBackend`
        (``backend.retrainer.wait_idle()`` waits for a refit to finish; ``backend.close()``
        stops the worker thread and releases the session's lock).

    Raises
    ------
    SessionBusyError
        Another backend serves the session (in this process or another).

    Examples
    --------
    >>> import os, shutil, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.session import LabelingSession
    >>> from activekit.integrations.labelstudio import create_app
    >>> X, y = load_iris(return_X_y=True)
    >>> tmp = tempfile.mkdtemp()
    >>> session = LabelingSession.create(
    ...     os.path.join(tmp, "iris.db"), ActiveLearningClassifier(random_state=0),
    ...     range(len(X)), X)
    >>> app = create_app(session, id_field="row")
    >>> app.test_client().get("/health").get_json()["status"]
    'UP'
    >>> app.extensions["activekit.labelstudio"].close()
    >>> session.close(); shutil.rmtree(tmp)
    """
    flask = import_optional("flask", "labelstudio")
    backend = LabelStudioBackend(
        session, id_field=id_field, retrain_every=retrain_every, from_name=from_name
    )
    app = flask.Flask("activekit.integrations.labelstudio")
    app.extensions["activekit.labelstudio"] = backend

    def body():
        payload = flask.request.get_json(silent=True)
        if payload is None:
            raise PayloadError("expected a JSON body (Content-Type: application/json)")
        return payload

    def answer(handler, *args):
        try:
            return flask.jsonify(handler(*args)), 200
        except (PayloadError, ValueError, TypeError) as exc:
            # ValueError/TypeError: the session refused the event (unknown id, label outside
            # its classes, ...) and wrote nothing.
            return flask.jsonify({"status": "error", "error": str(exc)}), 400

    @app.get("/")
    @app.get("/health")
    def health():
        return answer(backend.health)

    @app.post("/setup")
    def setup():
        return answer(lambda: backend.setup(body()))

    @app.post("/predict")
    def predict():
        return answer(lambda: backend.predict(body()))

    @app.post("/webhook")
    def webhook():
        return answer(lambda: backend.webhook(body()))

    @app.post("/train")
    def train():
        return answer(lambda: backend.train(body()))

    @app.get("/metrics")
    def metrics():
        return flask.jsonify({"n_refits": backend.retrainer.n_refits})

    @app.get("/versions")
    def versions():
        return flask.jsonify({"versions": [str(backend.session.model_version)]})

    return app
