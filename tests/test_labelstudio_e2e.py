"""The Label Studio ML backend against a real Label Studio server.

Label Studio runs in its own virtual environment (its pins need not match ours); set
``ACTIVEKIT_LABEL_STUDIO`` to its ``label-studio`` executable to run this test (``.ci/run``
does). The test starts the server on 127.0.0.1 with a temporary data directory and a preset
API token (tests/support/labelstudio_server.py), serves the backend with werkzeug on
127.0.0.1 from a thread of this process, and drives Label Studio through label-studio-sdk
(run in Label Studio's environment) as a user would: a project, 200 digits tasks, the backend connected, predictions retrieved,
annotations submitted, edited and deleted. About a minute on 2 cores, half of it Label
Studio starting (a fresh data directory runs its migrations).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.datasets import load_digits

from activekit import ActiveLearningClassifier
from activekit.integrations.labelstudio import create_app
from activekit.session import LabelingSession
from support.labelstudio_server import ENV_VAR, label_studio_executable, label_studio_server

N_TASKS = 200
LABEL_CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="digit" toName="text" choice="single">'
    + "".join(f'<Choice value="{d}"/>' for d in range(10))
    + "</Choices></View>"
)


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    executable = label_studio_executable()
    if executable is None:
        pytest.skip(
            f"Label Studio is not installed: set {ENV_VAR} to a label-studio executable to run "
            "the end-to-end test, e.g. python3 -m venv .venv-labelstudio && "
            ".venv-labelstudio/bin/pip install label-studio==1.23.2 && "
            f"export {ENV_VAR}=$PWD/.venv-labelstudio/bin/label-studio (.ci/run does this)"
        )
    with label_studio_server(executable, tmp_path_factory.mktemp("label-studio")) as server:
        yield server


@pytest.fixture
def backend(tmp_path):
    """A session over the first 200 digits, served by werkzeug on 127.0.0.1 in a thread."""
    from werkzeug.serving import make_server

    X, y = load_digits(return_X_y=True)
    X, y = X[:N_TASKS], y[:N_TASKS]
    learner = ActiveLearningClassifier(query_strategy="margin", batch_size=10, random_state=0)
    session = LabelingSession.create(
        tmp_path / "campaign.db", learner, list(range(N_TASKS)), X, classes=list(range(10))
    )
    app = create_app(session, id_field="row", retrain_every=10)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{server.server_port}",
            "session": session,
            "backend": app.extensions["activekit.labelstudio"],
            "y": y,
        }
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["activekit.labelstudio"].close()
        session.close()


def _choice(label):
    return [
        {"from_name": "digit", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
    ]


def _latest(predictions, version):
    """``{task id: prediction}`` of one model version."""
    return {p["task"]: p for p in predictions if p["model_version"] == version}


@pytest.fixture
def api(label_studio):
    with label_studio.sdk() as sdk:
        yield sdk


@pytest.mark.slow
def test_campaign_through_label_studio(api, backend):
    session, y = backend["session"], backend["y"]
    user = api.whoami()["id"]

    project = api.create_project(title="activekit end-to-end", label_config=LABEL_CONFIG)["id"]
    imported = api.import_tasks(
        project=project, tasks=[{"text": f"digits row {i}", "row": i} for i in range(N_TASKS)]
    )
    assert imported["task_count"] == N_TASKS
    task_of_row = {t["data"]["row"]: t["id"] for t in api.tasks(project=project)}
    row_of_task = {task: row for row, task in task_of_row.items()}
    assert sorted(task_of_row) == list(range(N_TASKS))

    # Connecting the backend: Label Studio calls /health and /setup, takes the version from
    # /setup and creates the project's webhook to <backend>/webhook.
    ml = api.add_ml_backend(project=project, url=backend["url"])
    assert ml["readable_state"] == "Connected", ml
    assert ml["model_version"] == "0"
    hooks = [h["url"] for h in api.webhooks(project=project)]
    assert f"{backend['url']}/webhook" in hooks

    # Predictions before any model: no label, the seeded random order as scores.
    api.retrieve_predictions(project=project)
    first = _latest(api.predictions(project=project), "0")
    assert sorted(first) == sorted(task_of_row.values())
    assert all(p["result"] == [] for p in first.values())
    by_score = sorted(first, key=lambda task: first[task]["score"])
    assert [row_of_task[t] for t in by_score] == session.ranking(list(range(N_TASKS)))
    assert len({p["score"] for p in first.values()}) == N_TASKS

    # Annotate the 20 tasks Label Studio would serve first (lowest scores), as a user does.
    annotated = {}
    for position, task in enumerate(by_score[:20]):
        row = row_of_task[task]
        created = api.create_annotation(
            task=task, result=_choice(str(y[row])), lead_time=1.5 + position
        )
        annotated[row] = created["id"]
    labels = session.labels().set_index("id")
    assert sorted(labels.index) == sorted(annotated)
    assert all(labels.loc[row, "label"] == y[row] for row in annotated)
    assert set(labels["annotator"]) == {f"label-studio:{user}"}
    assert sorted(labels["lead_time"]) == [1.5 + i for i in range(20)]

    # Retraining ran off the request thread (every 10 labels) and bumped the version.
    retrainer = backend["backend"].retrainer
    assert retrainer.wait_idle(timeout=120)
    assert retrainer.last_error is None
    automatic = session.model_version
    assert automatic >= 1
    # Label Studio's "Start training" refits on every label now.
    api.train(backend=ml["id"])
    assert retrainer.wait_idle(timeout=120)
    assert retrainer.last_error is None
    assert session.model_version == automatic + 1
    assert session.labels_since_refit == 0
    setup_version = str(session.model_version)

    # The next predictions come from the new model: labels, and a new order.
    api.retrieve_predictions(project=project)
    second = _latest(api.predictions(project=project), setup_version)
    assert sorted(second) == sorted(task_of_row.values())
    rows = [row_of_task[t] for t in sorted(second)]
    predicted = session.predict(rows)
    for task, expected in zip(sorted(second), predicted, strict=True):
        assert second[task]["result"] == _choice(str(expected))
    unlabelled = [r for r in range(N_TASKS) if r not in annotated]
    accuracy = np.mean(session.predict(unlabelled) == y[unlabelled])
    assert accuracy > 0.5, accuracy  # 20 labels of digits: well above chance (0.1)
    new_order = sorted((task_of_row[r] for r in unlabelled), key=lambda task: second[task]["score"])
    assert [row_of_task[t] for t in new_order] == session.ranking(unlabelled)
    assert new_order != [t for t in by_score if row_of_task[t] in set(unlabelled)]
    assert all(second[task_of_row[r]]["score"] == 1.0 for r in annotated)

    # Label Studio's uncertainty sampling serves the lowest score first.
    api.update_project(
        project=project, model_version=setup_version, sampling="Uncertainty sampling"
    )
    served = api.next_task(project)
    assert row_of_task[served["id"]] == session.ranking(unlabelled)[0]

    # An edit is a new label event; a deletion withdraws the label.
    edited_row, deleted_row = list(annotated)[:2]
    new_label = (y[edited_row] + 1) % 10
    api.update_annotation(annotation=annotated[edited_row], result=_choice(str(new_label)))
    api.delete_annotation(annotation=annotated[deleted_row])
    labels = session.labels().set_index("id")
    assert labels.loc[edited_row, "label"] == new_label
    assert deleted_row not in labels.index
    assert session.n_labeled == 19
    log = session.audit_log()
    assert (log["kind"] == "delete").sum() == 1
    assert ((log["kind"] == "label") & (log["id"] == edited_row)).sum() == 2
