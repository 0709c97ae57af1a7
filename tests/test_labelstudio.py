"""The Label Studio ML backend through Flask's test client, with payloads shaped as Label
Studio 1.23 sends them (captured from a real server; see tests/test_labelstudio_e2e.py for
the real thing)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

from activekit import ActiveLearningClassifier
from activekit._cli import main
from activekit.integrations.labelstudio import (
    LabelStudioBackend,
    SessionBusyError,
    create_app,
    parse_label_config,
)
from activekit.session import LabelingSession

N = 60
CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="digit" toName="text" choice="single">'
    '<Choice value="0"/><Choice value="1"/><Choice value="2"/><Choice value="9"/>'
    "</Choices></View>"
)
PROJECT = {"id": 7, "title": "digits", "label_config": CONFIG, "model_version": "activekit"}


@pytest.fixture
def data():
    X, y = load_digits(n_class=3, return_X_y=True)
    return X[:N], y[:N]


@pytest.fixture
def session(tmp_path, data):
    X, _ = data
    learner = ActiveLearningClassifier(query_strategy="margin", batch_size=5, random_state=0)
    with LabelingSession.create(
        tmp_path / "s.db", learner, list(range(N)), X, classes=[0, 1, 2]
    ) as session:
        yield session


@pytest.fixture
def make_app(session):
    backends = []

    def make(**kwargs):
        kwargs.setdefault("id_field", "row")
        app = create_app(session, **kwargs)
        backends.append(app.extensions["activekit.labelstudio"])
        return app

    yield make
    for backend in backends:
        backend.close(timeout=30)


@pytest.fixture
def app(make_app):
    return make_app(retrain_every=0)


def task(row, task_id=None):
    task_id = 100 + row if task_id is None else task_id
    return {
        "id": task_id,
        "data": {"text": f"row {row}", "row": row},
        "meta": {},
        "created_at": "2026-12-04T18:39:06.523150Z",
        "updated_at": "2026-12-04T18:39:06.523177Z",
        "is_labeled": False,
        "overlap": 1,
        "inner_id": task_id,
        "total_annotations": 0,
        "cancelled_annotations": 0,
        "total_predictions": 0,
        "project": PROJECT["id"],
        "updated_by": None,
        "file_upload": None,
        "annotations": [],
        "predictions": [],
    }


def choice(label, from_name="digit"):
    return [
        {
            "from_name": from_name,
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]


def annotation(row, label, annotation_id=None, user=1, lead_time=3.5, cancelled=False):
    return {
        "id": 1000 + row if annotation_id is None else annotation_id,
        "result": choice(label) if label is not None else [],
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": "2026-12-04T18:39:18.918404Z",
        "updated_at": "2026-12-04T18:39:18.918431Z",
        "draft_created_at": None,
        "lead_time": lead_time,
        "prediction": {},
        "result_count": 1,
        "unique_id": "ca38cdc0-3303-4518-89c1-4fea7b102d37",
        "import_id": None,
        "last_action": None,
        "bulk_created": False,
        "task": 100 + row,
        "project": PROJECT["id"],
        "completed_by": user,
        "updated_by": user,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


def created(row, label, action="ANNOTATION_CREATED", **kwargs):
    return {
        "action": action,
        "annotation": annotation(row, label, **kwargs),
        "task": task(row),
        "project": PROJECT,
    }


def predict_body(rows):
    return {
        "tasks": [task(r) for r in rows],
        "project": "7.1796409546",
        "label_config": CONFIG,
        "params": {"login": None, "password": None, "context": None},
    }


def post(app, path, body):
    response = app.test_client().post(path, json=body)
    return response.status_code, response.get_json()


def label_all(app, rows, y):
    for row in rows:
        status, answer = post(app, "/webhook", created(row, str(y[row])))
        assert status == 200, answer


# -- the labelling config ---------------------------------------------------------------------


def test_parse_label_config():
    config = parse_label_config(CONFIG)
    assert (config.from_name, config.to_name) == ("digit", "text")
    assert config.choices == ("0", "1", "2", "9")
    assert config.result(np.int64(9)) == choice("9")
    assert config.result(2.0) == choice("2")
    assert config.result("7") == []
    aliased = parse_label_config(
        '<View><Image name="i" value="$img"/><Choices name="c" toName="i">'
        '<Choice value="Cat" alias="cat"/><Choice value="Dog"/></Choices></View>'
    )
    assert aliased.choices == ("cat", "Dog")
    two = (
        '<View><Text name="t" value="$t"/><Choices name="a" toName="t"><Choice value="x"/>'
        '</Choices><Choices name="b" toName="t"><Choice value="y"/></Choices></View>'
    )
    assert parse_label_config(two, from_name="b").choices == ("y",)


@pytest.mark.parametrize(
    "xml, kwargs, message",
    [
        ("<View", {}, "not valid XML"),
        ("", {}, "non-empty XML string"),
        ('<View><Text name="t" value="$t"/></View>', {}, "no <Choices> tag"),
        (
            '<View><Choices name="a" toName="t"><Choice value="x"/></Choices>'
            '<Choices name="b" toName="t"><Choice value="y"/></Choices></View>',
            {},
            r"2 <Choices> tags \['a', 'b'\]",
        ),
        (CONFIG, {"from_name": "label"}, "no <Choices name='label'>"),
        ('<View><Choices name="a"><Choice value="x"/></Choices></View>', {}, "toName"),
        (
            '<View><Choices name="a" toName="t" choice="multiple"><Choice value="x"/></Choices>'
            "</View>",
            {},
            'choice="multiple"',
        ),
        ('<View><Choices name="a" toName="t"></Choices></View>', {}, "needs <Choice"),
    ],
)
def test_parse_label_config_errors(xml, kwargs, message):
    with pytest.raises(ValueError, match=message):
        parse_label_config(xml, **kwargs)


# -- health, setup, predict ---------------------------------------------------------------


def test_health_and_setup(app):
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "UP"
    assert response.get_json()["model_version"] == "0"
    body = {
        "project": "7.1796409546",
        "schema": CONFIG,
        "hostname": "http://localhost:8080",
        "access_token": "secret",
        "extra_params": None,
    }
    assert post(app, "/setup", body) == (200, {"model_version": "0"})
    status, answer = post(app, "/setup", {**body, "schema": "<View/>"})
    assert status == 400
    assert answer["status"] == "error"
    assert "no <Choices> tag" in answer["error"]


def test_predict_before_the_first_model(app, session):
    rows = [5, 0, 17, 59]
    status, answer = post(app, "/predict", predict_body(rows))
    assert status == 200
    results = answer["results"]
    assert len(results) == len(rows)
    assert all(r["result"] == [] and r["model_version"] == "0" for r in results)
    # The score is the position in the seeded ranking of the whole unlabelled pool over N.
    order = session.ranking(list(range(N)))
    assert [r["score"] for r in results] == [order.index(row) / N for row in rows]


def test_predict_after_a_refit(make_app, session, data):
    _, y = data
    app = make_app(retrain_every=6)
    labelled = [0, 1, 2, 3, 4, 5]
    label_all(app, labelled, y)
    backend = app.extensions["activekit.labelstudio"]
    assert backend.retrainer.wait_idle(timeout=60)
    assert backend.retrainer.last_error is None
    assert session.model_version == 1
    rows = list(range(N))
    status, answer = post(app, "/predict", predict_body(rows))
    assert status == 200
    results = answer["results"]
    predicted = session.predict(rows)
    assert [r["result"] for r in results] == [choice(str(p)) for p in predicted]
    assert {r["model_version"] for r in results} == {"1"}
    unlabelled = [r for r in rows if r not in labelled]
    order = session.ranking(unlabelled)
    scores = {row: r["score"] for row, r in zip(rows, results, strict=True)}
    assert [scores[row] for row in unlabelled] == [
        order.index(row) / len(unlabelled) for row in unlabelled
    ]
    assert all(scores[row] == 1.0 for row in labelled)
    assert post(app, "/setup", {"project": "7.1", "schema": CONFIG}) == (
        200,
        {"model_version": "1"},
    )


def test_task_ids_given_as_text(app, session):
    body = predict_body([3])
    body["tasks"][0]["data"]["row"] = "3"
    assert post(app, "/predict", body)[0] == 200
    status, answer = post(app, "/webhook", {**created(3, "0"), "task": body["tasks"][0]})
    assert (status, answer["recorded"]) == (200, 1)
    assert session.labels()["id"].tolist() == [3]


# -- annotations --------------------------------------------------------------------------


def test_annotation_created_is_a_label_event(app, session):
    status, answer = post(app, "/webhook", created(4, "2", user=3, lead_time=12.25))
    assert status == 200
    assert answer["recorded"] == 1
    labels = session.labels()
    assert labels["id"].tolist() == [4]
    assert labels["label"].tolist() == [2]  # the session's class, not the string "2"
    assert labels["annotator"].tolist() == ["label-studio:3"]
    assert labels["lead_time"].tolist() == [12.25]
    note = json.loads(labels["note"].iloc[0])
    assert note == {
        "source": "label-studio",
        "annotation": 1004,
        "task": 104,
        "project": 7,
        "action": "ANNOTATION_CREATED",
    }


def test_update_then_delete(app, session):
    post(app, "/webhook", created(4, "2"))
    post(app, "/webhook", created(9, "1"))
    status, answer = post(app, "/webhook", created(4, "0", action="ANNOTATION_UPDATED"))
    assert (status, answer["recorded"]) == (200, 1)
    labels = session.labels().set_index("id")["label"].to_dict()
    assert labels == {4: 0, 9: 1}
    log = session.audit_log()
    assert ((log["kind"] == "label") & (log["id"] == 4)).sum() == 2
    body = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1004}], "project": PROJECT}
    assert post(app, "/webhook", body) == (
        200,
        {"status": "ok", "action": "ANNOTATIONS_DELETED", "deleted": 1},
    )
    assert session.labels()["id"].tolist() == [9]
    # An annotation the session never saw (made before the backend was connected): nothing.
    body["annotations"] = [{"id": 555}]
    assert post(app, "/webhook", body)[1]["deleted"] == 0
    assert session.n_labeled == 1


def test_deleting_an_annotation_that_was_replaced(app, session):
    """Two annotators on one task: the second annotation is the current label, so deleting
    the first one changes nothing."""
    post(app, "/webhook", created(4, "2", annotation_id=1, user=1))
    post(app, "/webhook", created(4, "1", annotation_id=2, user=2))
    body = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}]}
    assert post(app, "/webhook", body)[1]["deleted"] == 0
    assert session.labels().set_index("id")["label"].to_dict() == {4: 1}


def test_bulk_annotations_created(app, session):
    body = {
        "action": "ANNOTATIONS_CREATED",
        "annotation": [annotation(1, "0"), annotation(2, "1"), annotation(3, None)],
        "task": [task(1), task(2), task(3)],
        "project": PROJECT,
    }
    status, answer = post(app, "/webhook", body)
    assert (status, answer["recorded"], answer["not_recorded"]) == (200, 2, [3])
    assert session.labels()["id"].tolist() == [1, 2]


def test_skipped_annotation_records_nothing(app, session):
    status, answer = post(app, "/webhook", created(4, "2", cancelled=True))
    assert (status, answer["recorded"], answer["not_recorded"]) == (200, 0, [4])
    assert session.n_labeled == 0


def test_other_actions_are_acknowledged(app, session):
    body = {"action": "PROJECT_UPDATED", "project": PROJECT}
    assert post(app, "/webhook", body) == (200, {"status": "ignored", "action": "PROJECT_UPDATED"})
    assert len(session.audit_log()) == 0


def _bad(payload_change):
    body = created(4, "2")
    payload_change(body)
    return body


BAD_WEBHOOKS = [
    ("no action", lambda b: b.pop("action"), "needs an 'action' string"),
    ("no project", lambda b: b.pop("project"), "needs 'project' with its 'label_config'"),
    ("task data lack the id", lambda b: b["task"]["data"].pop("row"), "has no 'row' in its data"),
    (
        "id outside the pool",
        lambda b: b["task"]["data"].update(row=60),
        "not in the session's pool",
    ),
    (
        "id of a wrong kind",
        lambda b: b["task"]["data"].update(row=[4]),
        "must be a string or an integer",
    ),
    (
        "label outside the choices",
        lambda b: b["annotation"].update(result=choice("7")),
        "not one of the project's choices",
    ),
    (
        "label outside the classes",
        lambda b: b["annotation"].update(result=choice("9")),
        r"not in classes \[0, 1, 2\]",
    ),
    (
        "two choices",
        lambda b: b["annotation"]["result"][0]["value"].update(choices=["0", "1"]),
        "one class per task",
    ),
    ("result not a list", lambda b: b["annotation"].update(result={"x": 1}), "must be a JSON list"),
    (
        "negative lead time",
        lambda b: b["annotation"].update(lead_time=-1),
        "lead_time'] must be >= 0",
    ),
    (
        "lead time not a number",
        lambda b: b["annotation"].update(lead_time="3s"),
        "number of seconds",
    ),
    ("annotation not an object", lambda b: b.update(annotation=[1]), "must be a JSON object"),
]


@pytest.mark.parametrize("case, change, message", BAD_WEBHOOKS, ids=[c[0] for c in BAD_WEBHOOKS])
def test_bad_webhook_is_a_400_and_records_nothing(app, session, case, change, message):
    status, answer = post(app, "/webhook", _bad(change))
    assert status == 400, answer
    assert answer["status"] == "error"
    assert re.search(message, answer["error"]), answer["error"]
    assert len(session.audit_log()) == 0


def test_bad_bulk_records_none_of_it(app, session):
    body = {
        "action": "ANNOTATIONS_CREATED",
        "annotation": [annotation(1, "0"), annotation(2, "7")],
        "task": [task(1), task(2)],
        "project": PROJECT,
    }
    status, answer = post(app, "/webhook", body)
    assert status == 400
    assert "'7' is not one of the project's choices" in answer["error"]
    assert session.n_labeled == 0


@pytest.mark.parametrize(
    "path, body, message",
    [
        ("/webhook", None, "expected a JSON body"),
        ("/webhook", [1, 2], "must be a JSON object, got list"),
        ("/predict", {"tasks": "all", "label_config": CONFIG}, "'tasks' must be a JSON list"),
        ("/predict", {"tasks": [task(1)], "label_config": None}, "non-empty XML string"),
        ("/predict", {**predict_body([1]), "tasks": [{"id": 1, "data": {}}]}, "has no 'row'"),
        (
            "/webhook",
            {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": "x"}]},
            "must be an integer",
        ),
    ],
)
def test_bad_requests(app, session, path, body, message):
    client = app.test_client()
    if body is None:
        response = client.post(path, data="not json", content_type="text/plain")
    else:
        response = client.post(path, json=body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert len(session.audit_log()) == 0


# -- retraining ---------------------------------------------------------------------------


def test_retrain_runs_off_the_request_thread(make_app, session, data, monkeypatch):
    _, y = data
    release = threading.Event()
    threads = []
    refit = session.refit

    def slow_refit():
        threads.append(threading.current_thread().name)
        assert release.wait(30)
        return refit()

    monkeypatch.setattr(session, "refit", slow_refit)
    app = make_app(retrain_every=3)
    backend = app.extensions["activekit.labelstudio"]
    label_all(app, [0, 1, 2], y)  # the third label asks for a refit ...
    # ... and its request returned while the refit is still blocked.
    assert backend.retrainer.busy
    assert session.model_version == 0
    label_all(app, [3, 4], y)  # more labels while it runs: recorded at once
    assert session.n_labeled == 5
    release.set()
    assert backend.retrainer.wait_idle(timeout=60)
    assert threads == ["activekit-labelstudio-retrain"]
    assert session.model_version == 1
    assert session.labels_since_refit == 0  # the refit read all 5 labels
    label_all(app, [5, 6], y)  # 2 new labels: not yet
    assert backend.retrainer.wait_idle(timeout=60)
    assert session.model_version == 1
    label_all(app, [7], y)
    assert backend.retrainer.wait_idle(timeout=60)
    assert session.model_version == 2
    assert app.test_client().get("/metrics").get_json() == {"n_refits": 2}


def test_a_backlog_from_before_a_restart_is_refitted(make_app, session, data):
    _, y = data
    session.record(list(range(6)), y[:6])  # recorded while no backend ran
    app = make_app(retrain_every=5)
    assert app.extensions["activekit.labelstudio"].retrainer.wait_idle(timeout=60)
    assert session.model_version == 1


def test_one_backend_per_session(make_app, session):
    first = make_app(retrain_every=0).extensions["activekit.labelstudio"]
    with pytest.raises(
        SessionBusyError,
        match=r"a Label Studio backend \(pid \d+, started .*\) already serves the session .*s\.db",
    ):
        create_app(session, id_field="row")
    # Another process is refused as well, by the same lease the labelling page takes.
    script = (
        "import sys\nfrom activekit.session import ServerLease, SessionBusyError\n"
        "try:\n    ServerLease(sys.argv[1], 'the labelling page')\n"
        "except SessionBusyError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, session.path], capture_output=True, text=True, check=True
    ).stdout
    assert "a Label Studio backend (pid" in out and "already serves the session" in out
    # A stopped backend lets the next one in.
    first.close()
    assert make_app(retrain_every=0).test_client().get("/health").status_code == 200


def test_failed_refit_is_reported_and_the_worker_survives(make_app, session, data):
    _, y = data
    app = make_app(retrain_every=2)
    backend = app.extensions["activekit.labelstudio"]
    zeros = [i for i in range(N) if y[i] == 0][:2]
    label_all(app, zeros, y)  # one class only: refit fails
    assert backend.retrainer.wait_idle(timeout=60)
    health = app.test_client().get("/health").get_json()
    assert "at least 2 classes" in health["last_error"]
    assert health["model_version"] == "0"
    ones = [i for i in range(N) if y[i] == 1][:2]
    label_all(app, ones, y)
    assert backend.retrainer.wait_idle(timeout=60)
    assert session.model_version == 1
    assert app.test_client().get("/health").get_json()["last_error"] is None


@pytest.mark.parametrize("action", ["START_TRAINING", None])
def test_training_on_request(app, session, data, action):
    _, y = data
    label_all(app, [i for i in range(N) if y[i] in (0, 1)][:4], y)
    backend = app.extensions["activekit.labelstudio"]
    assert backend.retrainer.wait_idle(timeout=60)
    assert session.model_version == 0  # retrain_every=0: only on request
    if action is None:
        status, _ = post(app, "/train", {"annotations": [], "project": "7.1"})
    else:
        status, _ = post(app, "/webhook", {"action": action, "project": PROJECT})
    assert status == 200
    assert backend.retrainer.wait_idle(timeout=60)
    assert session.model_version == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"id_field": ""}, "id_field must be a non-empty string"),
        ({"retrain_every": -1}, "retrain_every must be an integer >= 0"),
        ({"retrain_every": 2.5}, "retrain_every must be an integer >= 0"),
    ],
)
def test_bad_parameters(session, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabelStudioBackend(session, **kwargs)


# -- activekit serve labelstudio ----------------------------------------------------------


@pytest.fixture
def pool_csv(tmp_path, data):
    X, _ = data
    path = tmp_path / "pool.csv"
    header = ["item", "caption", *[f"f{j}" for j in range(X.shape[1])]]
    lines = [",".join(header)]
    for i, row in enumerate(X):
        lines.append(",".join([f"r{i}", f"digit {i}", *(f"{v:g}" for v in row)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_serve_write_tasks(pool_csv, tmp_path, capsys):
    out = tmp_path / "tasks.json"
    args = ["serve", "labelstudio", "--data", str(pool_csv), "--id-column", "item"]
    assert main([*args, "--session", str(tmp_path / "s.db"), "--write-tasks", str(out)]) == 0
    assert "wrote 60 tasks" in capsys.readouterr().out
    tasks = json.loads(out.read_text())
    assert len(tasks) == N
    assert tasks[3]["data"]["item"] == "r3"
    assert tasks[3]["data"]["caption"] == "digit 3"
    assert tasks[3]["data"]["f10"] == load_digits(n_class=3).data[3, 10]
    assert not (tmp_path / "s.db").exists()  # writing tasks opens no session


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--id-column", "item"], "the following arguments are required: --session"),
        (["--id-column", "nope", "--session", "s.db"], "--id-column 'nope' is not a column"),
        (
            ["--id-column", "item", "--session", "s.db", "--retrain-every", "-1"],
            "expected an integer >= 0, got -1",
        ),
        (
            ["--id-column", "item", "--session", "s.db", "--port", "70000"],
            "expected a port in 0..65535",
        ),
        (["--id-column", "item", "--session", "s.db", "--classes", " , "], "names no class"),
    ],
)
def test_serve_errors(pool_csv, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "labelstudio", "--data", str(pool_csv), *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("activekit: error: ") and err.count("\n") == 1
    assert message in err


def _start_server(args, cwd):
    process = subprocess.Popen(
        [sys.executable, "-m", "activekit", "serve", "labelstudio", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if found:
            return process, f"http://127.0.0.1:{found.group(1)}"
    process.wait(30)
    raise AssertionError(f"no server address printed: {lines} {process.stderr.read()}")


def _http(url, body=None):
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_serve_records_into_the_session_file(pool_csv, tmp_path, data):
    """The command as a user runs it: a server process on 127.0.0.1, annotations posted to
    its webhook, a refit, a second server refused, the labels in the file afterwards."""
    _, y = data
    session_path = tmp_path / "campaign.db"
    args = [
        "--data", str(pool_csv), "--id-column", "item", "--session", str(session_path),
        "--port", "0", "--retrain-every", "3", "--classes", "0,1,2",
    ]  # fmt: skip
    process, url = _start_server(args, tmp_path)
    try:
        assert _http(f"{url}/health")["model_version"] == "0"
        rows = [i for i in range(N) if y[i] in (0, 1)][:3]
        for row in rows:
            body = created(row, str(y[row]))
            body["task"]["data"] = {"item": f"r{row}", "caption": f"digit {row}"}
            assert _http(f"{url}/webhook", body)["recorded"] == 1
        for _ in range(300):  # the refit runs off the request thread
            if _http(f"{url}/health")["model_version"] == "1":
                break
            time.sleep(0.1)
        assert _http(f"{url}/health")["model_version"] == "1"
        second = subprocess.run(
            [sys.executable, "-m", "activekit", "serve", "labelstudio", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2
        assert "a Label Studio backend (pid" in second.stderr and "already serves the session" in second.stderr
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0  # Ctrl-C is how the server stops
    with LabelingSession.open(session_path, lambda ids: None) as session:
        labels = session.labels()
        assert labels["id"].tolist() == [f"r{row}" for row in rows]
        assert labels["label"].tolist() == [int(y[row]) for row in rows]
        assert session.model_version == 1


def test_label_studio_executable_from_the_environment(monkeypatch, tmp_path):
    """The e2e test skips without ACTIVEKIT_LABEL_STUDIO, and fails (no skip) when it names
    no executable: CI sets it, so a broken install must not pass as a skip."""
    from support.labelstudio_server import ENV_VAR, label_studio_executable

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert label_studio_executable() is None
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing" / "label-studio"))
    with pytest.raises(FileNotFoundError, match="is not an executable file"):
        label_studio_executable()
    tool = tmp_path / "label-studio"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv(ENV_VAR, str(tool))
    assert label_studio_executable() == tool
