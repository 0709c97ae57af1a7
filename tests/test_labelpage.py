"""The labelling page (``activekit label``) through Flask's test client, on a real session:
the JSON API, what it records in the session, bad input (400, nothing recorded), the image
route's folder rule, the lock against a second page, resuming, and the command itself."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("flask")

from activekit._cli import main
from activekit.integrations import labelpage
from activekit.integrations.labelpage import (
    DataTable,
    SessionBusyError,
    create_app,
    load_test_set,
    open_session,
    shortcut_keys,
    sparkline_svg,
)
from activekit.session import LabelingSession

N_POOL, N_TEST, BATCH = 150, 120, 6


def estimator():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(n_class=4, return_X_y=True)
    return X[: N_POOL + N_TEST], y[: N_POOL + N_TEST]


def write_campaign(folder, digits, *, image_value=None):
    """pool.csv (id, image, caption, 64 pixels), images/, test.csv; the truth by id."""
    X, y = digits
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    pixels = [f"p{i}" for i in range(64)]
    lines = [",".join(["id", "image", "caption", *pixels])]
    truth = {}
    for i in range(N_POOL):
        key = f"d{i:03d}"
        truth[key] = int(y[i])
        image = f"images/{key}.png"
        (folder / image).write_bytes(labelpage._png_gray(np.full((8, 8), i % 256)))
        if image_value is not None and i == 0:
            image = image_value
        cells = [key, image, f"scan {i}", *(str(int(v)) for v in X[i])]
        lines.append(",".join(cells))
    (folder / "pool.csv").write_text("\n".join(lines) + "\n")
    test = [",".join([*pixels, "label"])]
    for i in range(N_POOL, N_POOL + N_TEST):
        test.append(",".join([*(str(int(v)) for v in X[i]), str(int(y[i]))]))
    (folder / "test.csv").write_text("\n".join(test) + "\n")
    return truth


class Page:
    """A page over a fresh session, with its test client."""

    def __init__(self, folder, *, test=True, classes=(0, 1, 2, 3), annotator="ann"):
        self.folder = folder
        self.data = DataTable(folder / "pool.csv", id_column="id")
        self.test = load_test_set(folder / "test.csv", self.data.features) if test else None
        self.session = open_session(
            folder / "s.db", self.data, classes=list(classes), estimator=estimator(),
            batch_size=BATCH,
        )
        self.app = create_app(self.session, self.data, test=self.test, annotator=annotator)
        self.state = self.app.extensions["activekit_labelpage"]
        self.client = self.app.test_client()

    def close(self):
        self.state.close()
        self.session.close()

    def get(self, path):
        response = self.client.get(path)
        return response.status_code, response.get_json()

    def post(self, path, payload):
        response = self.client.post(path, json=payload)
        return response.status_code, response.get_json()

    def settled(self, timeout=30):
        """The progress once no fit runs."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            status, progress = self.get("/api/progress")
            assert status == 200
            if not progress["fitting"]:
                return progress
            time.sleep(0.05)
        raise AssertionError("the background fit did not finish")

    def answer_batch(self, truth):
        status, answer = self.get("/api/next")
        assert status == 200 and not answer["waiting"]
        keys = [item["id"] for item in answer["items"]]
        for key in keys:
            status, body = self.post("/api/label", {"id": key, "label": truth[key], "lead_time": 0.5})
            assert status == 200, body
        return keys


@pytest.fixture
def campaign(tmp_path, digits):
    truth = write_campaign(tmp_path / "data", digits)
    page = Page(tmp_path / "data")
    yield page, truth
    page.close()


def n_events(session):
    return len(session.audit_log())


# -- reading the data --------------------------------------------------------------------------


def test_data_table_sorts_columns_by_kind(tmp_path, digits):
    write_campaign(tmp_path, digits)
    data = DataTable(tmp_path / "pool.csv", id_column="id")
    assert data.features == [f"p{i}" for i in range(64)]
    assert data.images == ["image"] and data.texts == ["caption"]
    assert data.ids[:2] == ["d000", "d001"] and len(data) == N_POOL
    np.testing.assert_array_equal(data.rows_for(["d002", "d000"]), digits[0][[2, 0]])
    item = data.item("d001")
    assert item["texts"] == [["caption", "scan 1"]]
    assert item["images"] == [["image", "/media/0/d001"]]
    assert item["numbers"][:2] == [["p0", "0"], ["p1", "0"]]
    rows = DataTable(tmp_path / "pool.csv")  # no id column: row numbers, the id as text
    assert rows.ids[:3] == [0, 1, 2] and rows.texts == ["id", "caption"]
    # A label column left in the data file (--target) is neither shown nor learnt from.
    kept = DataTable(tmp_path / "pool.csv", id_column="id", exclude=("p0", "caption"))
    assert kept.features == [f"p{i}" for i in range(1, 64)] and kept.texts == []
    assert "caption" not in str(kept.item("d001"))


def test_command_keeps_the_label_column_out_of_the_features(tmp_path, digits, monkeypatch):
    write_campaign(tmp_path, digits)
    lines = (tmp_path / "pool.csv").read_text().splitlines()
    _, y = digits
    lines = [lines[0] + ",label"] + [f"{line},{y[i]}" for i, line in enumerate(lines[1:])]
    (tmp_path / "pool.csv").write_text("\n".join(lines) + "\n")
    seen = {}

    def fake_server(app, port):
        seen["page"] = app.extensions["activekit_labelpage"]
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(labelpage, "make_server", fake_server)
    with pytest.raises(SystemExit) as info:
        main(["label", "--data", str(tmp_path / "pool.csv"), "--id-column", "id", "--test",
              str(tmp_path / "test.csv"), "--session", str(tmp_path / "s.db"), "--port", "8765"])
    assert info.value.code == 2
    page = seen["page"]
    assert "label" not in page.data.features and len(page.data.features) == 64
    assert page.classes == [0, 1, 2, 3]  # from --test
    assert page.lock_file is None  # released on the way out


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("id,x\na,1\na,2\n", {"id_column": "id"}, "repeats the ids ['a']"),
        ("id,x\na,1\n,2\n", {"id_column": "id"}, "is empty on line 3"),
        ("id,x\na,1\n", {"id_column": "key"}, "--id-column 'key' is not a column"),
        ("id,x\na,1\nb\n", {}, "line 3: 1 fields, expected 2"),
        ("id,x\na,1\nb,\n", {}, "the numeric column 'x' has no value"),
        ("id,name\na,cat\n", {"id_column": "id"}, "has no numeric columns"),
        ("id,x,x\na,1,2\n", {}, "names the columns ['x'] more than once"),
        ("id,x\n", {}, "needs a header row and at least one data row"),
    ],
)
def test_data_table_bad_files(tmp_path, text, kwargs, message):
    path = tmp_path / "pool.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=None) as info:
        DataTable(path, **kwargs)
    assert message in str(info.value)


def test_data_table_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        DataTable(tmp_path / "absent.csv")


def test_test_set_checks(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("x,y,label\n1,2,a\n3,4,b\n")
    X, y = load_test_set(path, ["x", "y"])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y == ["a", "b"]
    with pytest.raises(ValueError, match=r"lacks the data file's feature columns \['z'\]"):
        load_test_set(path, ["x", "z"])
    with pytest.raises(ValueError, match="--target 'kind' is not a column"):
        load_test_set(path, ["x"], "kind")
    path.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="no 'label' or 'target' column"):
        load_test_set(path, ["x"])
    path.write_text("x,label\nbig,1\n")
    with pytest.raises(ValueError, match="feature 'x' has the value 'big'"):
        load_test_set(path, ["x"])


def test_shortcut_keys():
    assert shortcut_keys(list(range(10))) == [str(i) for i in range(10)]
    assert shortcut_keys(["a", "B"]) == ["a", "b"]
    assert shortcut_keys(["cat", "dog", "cow"]) == ["1", "2", "3"]
    names = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "kiwi", "lime", "mango"]
    assert shortcut_keys(names) == [n[0] for n in names]
    clash = [f"c{i}" for i in range(11)]
    assert shortcut_keys(clash) == [str(i) for i in range(1, 10)] + [None, None]


def test_sparkline_coordinates():
    svg = sparkline_svg([(10, 0.0), (20, 0.5), (30, 1.0)], width=100, height=50)
    points = svg.split('points="')[1].split('"')[0].split()
    assert points == ["4.0,46.0", "50.0,25.0", "96.0,4.0"]
    assert "accuracy 1.000 at 30 labels (3 fits)" in svg
    one = sparkline_svg([(5, 0.25)], width=100, height=50)
    assert 'points="50.0,35.5"' in one
    assert "<polyline" not in sparkline_svg([])


# -- the API -----------------------------------------------------------------------------------


def test_page_and_config(campaign):
    page, _ = campaign
    with page.client.get("/") as response:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        csp = response.headers["Content-Security-Policy"]
    assert '<script src="/static/app.js"' in html and 'id="sparkline"' in html
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    with page.client.get("/static/app.js") as response:
        assert response.status_code == 200 and b"/api/label" in response.data
    status, config = page.get("/api/config")
    assert status == 200
    assert [c["key"] for c in config["classes"]] == ["0", "1", "2", "3"]
    assert config["n_pool"] == N_POOL and config["batch_size"] == BATCH and config["has_test"]


def test_a_campaign_through_the_api(campaign, digits):
    page, truth = campaign
    status, first = page.get("/api/next")
    assert status == 200 and len(first["items"]) == BATCH
    assert page.get("/api/next")[1]["items"] == first["items"]  # asked again: same batch
    assert [str(i) for i in page.session.pending()] == [it["id"] for it in first["items"]]

    keys = page.answer_batch(truth)
    progress = page.settled()
    assert progress["n_labeled"] == BATCH and progress["pending"] == 0
    labels = page.session.labels()
    assert sorted(labels["id"]) == sorted(keys)
    assert dict(zip(labels["id"], labels["label"], strict=True)) == {k: truth[k] for k in keys}
    assert set(labels["annotator"]) == {"ann"} and set(labels["lead_time"]) == {0.5}
    counts = {str(c): sum(truth[k] == c for k in keys) for c in range(4)}
    assert progress["counts"] == counts

    if len(set(truth[k] for k in keys)) < 2:  # the random first batch held one class
        keys += page.answer_batch(truth)
        progress = page.settled()
    # The background fit: a model version, scored on the held-out set like a fresh fit.
    assert progress["fit_error"] is None and progress["model_version"] == 1
    X, y = digits
    rows = [int(k[1:]) for k in keys]
    expected = estimator().fit(X[rows], y[rows]).score(X[N_POOL:], y[N_POOL:])
    assert progress["accuracy"] == pytest.approx(expected)
    assert progress["curve"] == [
        {"n_labels": len(keys), "model_version": 1, "accuracy": progress["accuracy"]}
    ]
    assert "<polyline" in progress["sparkline"]

    # The next batch comes from that model and holds nothing labelled.
    status, second = page.get("/api/next")
    new = [it["id"] for it in second["items"]]
    assert len(new) == BATCH and not set(new) & set(keys)
    log = page.session.audit_log()
    asked = log[(log["kind"] == "query") & log["id"].isin(new)]
    assert set(asked["model_version"]) == {1}
    page.answer_batch(truth)
    progress = page.settled()
    assert progress["model_version"] == 2 and len(progress["curve"]) == 2
    assert progress["curve"][1]["n_labels"] == len(keys) + BATCH


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "the body must be a JSON object"),
        ({"label": 1}, "the JSON body lacks 'id'"),
        ({"id": "X"}, "the JSON body lacks 'label'"),
        ({"id": ["x"], "label": 1}, "'id' must be a string or an integer"),
        ({"id": True, "label": 1}, "'id' must be a string or an integer"),
        ({"id": "zzz", "label": 1}, "unknown id 'zzz'"),
        ({"id": "d149", "label": 1}, "is not waiting for a label"),
        ({"id": "PENDING", "label": 7}, "label 7 is not one of the session's classes"),
        ({"id": "PENDING", "label": True}, "label True is not one of"),
        ({"id": "PENDING", "label": [1]}, "is not one of the session's classes"),
        ({"id": "PENDING", "label": 1, "lead_time": -1}, "'lead_time' must be a number of seconds >= 0"),
        ({"id": "PENDING", "label": 1, "lead_time": "2s"}, "'lead_time' must be a number"),
    ],
)
def test_bad_labels_are_refused_and_nothing_is_recorded(campaign, payload, message):
    page, _ = campaign
    pending = page.get("/api/next")[1]["items"][0]["id"]
    if isinstance(payload, dict) and payload.get("id") == "PENDING":
        payload = {**payload, "id": pending}
    before = n_events(page.session)
    status, body = page.post("/api/label", payload)
    assert status == 400 and message in body["error"], body
    assert n_events(page.session) == before and page.session.n_labeled == 0


def test_bad_requests(campaign):
    page, _ = campaign
    page.get("/api/next")
    before = n_events(page.session)
    response = page.client.post("/api/label", data="id=d000&label=1")  # a form, as a CSRF would
    assert response.status_code == 400 and "Content-Type: application/json" in response.json["error"]
    response = page.client.post("/api/label", data="{", content_type="application/json")
    assert response.status_code == 400 and "JSON object" in response.json["error"]
    response = page.client.post("/api/label", data='{"id": "d000", "label": 1, "lead_time": NaN}', content_type="application/json")
    assert response.status_code == 400 and "lead_time" in response.json["error"]
    response = page.client.get("/api/progress", headers={"Host": "attacker.example:8765"})
    assert response.status_code == 400 and "only on 127.0.0.1" in response.json["error"]
    assert page.client.get("/api/label").status_code == 405
    assert page.client.get("/api/nothing").json["error"] == "no such page: /api/nothing"
    status, body = page.post("/api/undo", {})
    assert status == 400 and "nothing to undo" in body["error"]
    status, body = page.post("/api/skip", {"id": "d149"})
    assert status == 400 and "is not waiting for a label" in body["error"]
    assert n_events(page.session) == before


def test_a_failing_session_is_a_json_500(campaign, monkeypatch):
    page, _ = campaign

    def broken(k=None):
        raise RuntimeError("the strategy\nfailed")

    monkeypatch.setattr(page.session, "next_batch", broken)
    status, body = page.get("/api/next")
    assert status == 500 and body == {"error": "RuntimeError: the strategy failed"}


def test_undo_deletes_the_last_label_and_asks_it_again(campaign):
    page, truth = campaign
    items = page.get("/api/next")[1]["items"]
    a, b = items[0]["id"], items[1]["id"]
    page.post("/api/label", {"id": a, "label": truth[a]})
    page.post("/api/label", {"id": b, "label": truth[b]})
    status, body = page.post("/api/undo", {})
    assert status == 200 and body["undone"] == b and body["kind"] == "label"
    assert body["progress"]["n_labeled"] == 1
    assert list(page.session.labels()["id"]) == [a]
    log = page.session.audit_log()
    deleted = log[log["kind"] == "delete"]
    assert list(deleted["id"]) == [b] and list(deleted["annotator"]) == ["ann"]
    # Shown first, and labelled again (a new event); then a's label is next to undo.
    assert page.get("/api/next")[1]["items"][0]["id"] == b
    assert page.post("/api/label", {"id": b, "label": (truth[b] + 1) % 4})[0] == 200
    assert page.session.labels().set_index("id").loc[b, "label"] == (truth[b] + 1) % 4
    assert page.post("/api/undo", {})[1]["undone"] == b
    assert page.post("/api/undo", {})[1]["undone"] == a
    assert page.session.n_labeled == 0
    assert [it["id"] for it in page.get("/api/next")[1]["items"][:2]] == [a, b]
    assert page.post("/api/undo", {})[0] == 400


def test_skip_records_a_skip_and_undo_brings_it_back(campaign):
    page, truth = campaign
    items = [it["id"] for it in page.get("/api/next")[1]["items"]]
    status, body = page.post("/api/skip", {"id": items[0]})
    assert status == 200 and body["id"] == items[0]
    log = page.session.audit_log()
    assert list(log[log["kind"] == "skip"]["id"]) == [items[0]]
    assert [str(i) for i in page.session.pending()] == items[1:]
    assert [it["id"] for it in page.get("/api/next")[1]["items"]] == items[1:]
    assert page.post("/api/undo", {})[1] == {"undone": items[0], "kind": "skip", "progress": page.get("/api/progress")[1]}
    assert page.get("/api/next")[1]["items"][0]["id"] == items[0]
    assert page.post("/api/label", {"id": items[0], "label": truth[items[0]]})[0] == 200
    assert page.session.n_labeled == 1


def test_fit_error_is_reported_and_the_page_goes_on(tmp_path, digits):
    truth = write_campaign(tmp_path, digits)
    page = Page(tmp_path)
    try:
        keys = [it["id"] for it in page.get("/api/next")[1]["items"]]
        for key in keys:  # every answer the same class: no model can be fitted
            assert page.post("/api/label", {"id": key, "label": 0})[0] == 200
        progress = page.settled()
        assert "at least 2 classes" in progress["fit_error"]
        assert progress["model_version"] == 0 and progress["accuracy"] is None
        status, answer = page.get("/api/next")  # a new random batch
        assert status == 200 and len(answer["items"]) == BATCH
        assert not {it["id"] for it in answer["items"]} & set(keys)
        assert set(truth) >= {it["id"] for it in answer["items"]}
    finally:
        page.close()


# -- images ------------------------------------------------------------------------------------


def test_images_come_only_from_under_the_data_folder(tmp_path, digits):
    folder = tmp_path / "data"
    (tmp_path / "secret.png").write_bytes(b"not for the page")
    write_campaign(folder, digits, image_value="../secret.png")
    page = Page(folder)
    try:
        with page.client.get("/media/0/d001") as response:
            assert response.status_code == 200 and response.mimetype == "image/png"
            assert response.data == (folder / "images" / "d001.png").read_bytes()
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        for url in ("/media/0/d000", "/media/1/d001", "/media/0/nope", "/media/0/..%2Fsecret.png"):
            with page.client.get(url) as response:
                assert response.status_code == 404 and b"not for the page" not in response.data
        os.remove(folder / "images" / "d002.png")
        with page.client.get("/media/0/d002") as response:
            assert response.status_code == 404
    finally:
        page.close()


def test_odd_ids_and_the_end_of_the_pool(tmp_path):
    """Ids with slashes, spaces and '?' reach their images; an exhausted pool says so."""
    ids = ["a/b", "c d", "e?f", "g%h", "i", "j", "k", "l"]
    (tmp_path / "img.png").write_bytes(labelpage._png_gray(np.zeros((2, 2))))
    rows = [f"{key},{i},{i % 2},img.png" for i, key in enumerate(ids)]
    (tmp_path / "pool.csv").write_text("name,x,z,pic\n" + "\n".join(rows) + "\n")
    data = DataTable(tmp_path / "pool.csv", id_column="name")
    session = open_session(tmp_path / "s.db", data, classes=["even", "odd"], estimator=estimator(), batch_size=6)
    app = create_app(session, data)
    page = app.extensions["activekit_labelpage"]
    client = app.test_client()
    try:
        for key in ids:
            url = data.item(key)["images"][0][1]
            with client.get(url) as response:
                assert response.status_code == 200, (key, url)
        seen = []
        while True:
            answer = client.get("/api/next").json
            if answer["waiting"]:
                time.sleep(0.05)
                continue
            if not answer["items"]:
                break
            for item in answer["items"]:
                seen.append(item["id"])
                label = ["even", "odd"][ids.index(item["id"]) % 2]
                assert client.post("/api/label", json={"id": item["id"], "label": label}).status_code == 200
        assert sorted(seen) == sorted(ids) and session.n_labeled == len(ids)
        assert client.get("/api/config").json["classes"][0]["key"] == "1"  # 'even' -> 1
    finally:
        page.close()
        session.close()


# -- one page per session, resuming ------------------------------------------------------------


def test_a_second_page_on_the_session_is_refused(campaign):
    page, _ = campaign
    other = LabelingSession.open(page.folder / "s.db", page.data.rows_for)
    try:
        with pytest.raises(SessionBusyError, match=r"the labelling page \(pid \d+.* already serves"):
            create_app(other, page.data)
        # A Label Studio backend is a second server too: refused by the same lease.
        from activekit.integrations import labelstudio

        with pytest.raises(SessionBusyError, match=r"the labelling page \(pid \d+.* already serves"):
            labelstudio.create_app(other, id_field="id")
        page.state.close()  # the first page stops: the lock is free again
        app = create_app(other, page.data)
        app.extensions["activekit_labelpage"].close()
    finally:
        other.close()


def test_resume_keeps_pending_batch_and_curve(tmp_path, digits):
    truth = write_campaign(tmp_path, digits)
    page = Page(tmp_path)
    keys = page.answer_batch(truth)
    while len({truth[k] for k in keys}) < 2:
        keys += page.answer_batch(truth)
    progress = page.settled()
    pending = [it["id"] for it in page.get("/api/next")[1]["items"]]
    page.post("/api/label", {"id": pending[0], "label": truth[pending[0]]})
    page.close()

    again = Page(tmp_path)  # the session file exists: opened, classes checked
    try:
        resumed = again.settled()
        assert resumed["curve"] == progress["curve"] and resumed["n_labeled"] == len(keys) + 1
        assert [it["id"] for it in again.get("/api/next")[1]["items"]] == pending[1:]
        assert again.post("/api/undo", {})[0] == 400  # undo is for this page's own answers
    finally:
        again.close()
    with pytest.raises(ValueError, match="differ from the session's classes"):
        open_session(tmp_path / "s.db", again.data, classes=[0, 1])


def test_a_page_fits_only_when_labels_changed(tmp_path, digits):
    truth = write_campaign(tmp_path, digits)
    page = Page(tmp_path)
    keys = page.answer_batch(truth)
    while len({truth[k] for k in keys}) < 2:
        keys += page.answer_batch(truth)
    assert page.settled()["model_version"] == 1
    for item in page.get("/api/next")[1]["items"]:  # a batch of skips changes no model
        assert page.post("/api/skip", {"id": item["id"]})[0] == 200
    assert page.settled()["model_version"] == 1
    page.close()
    again = Page(tmp_path)  # nothing new: no fit on opening
    assert again.settled()["model_version"] == 1
    batch = again.session.next_batch()
    again.close()
    with LabelingSession.open(tmp_path / "s.db", again.data.rows_for) as session:
        session.record(batch, [truth[k] for k in batch])  # answered, not fitted
    third = Page(tmp_path)  # catches up in the background, scored like every fit
    try:
        progress = third.settled()
        assert progress["model_version"] == 2 and progress["fit_error"] is None
        assert [p["n_labels"] for p in progress["curve"]] == [len(keys), len(keys) + BATCH]
    finally:
        third.close()


def test_the_data_must_hold_the_sessions_ids(tmp_path, digits):
    write_campaign(tmp_path, digits)
    page = Page(tmp_path)
    page.close()
    lines = (tmp_path / "pool.csv").read_text().splitlines()
    (tmp_path / "pool.csv").write_text("\n".join(lines[:-3]) + "\n")
    data = DataTable(tmp_path / "pool.csv", id_column="id")
    with LabelingSession.open(tmp_path / "s.db", data.rows_for) as session:
        with pytest.raises(ValueError, match="3 of the session's 150 ids are not ids of the data"):
            create_app(session, data)


def test_importing_the_module_imports_no_flask():
    code = "import sys, activekit.integrations.labelpage; print('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the command -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["label"], "--data and --session required"),
        (["label", "--data", "x.csv"], "--session required"),
        (["label", "--data", "absent.csv", "--session", "s.db"], "no such file"),
        (["label", "--port", "70000"], "expected a port in 0..65535"),
        (["label", "--strategy", "margn"], "did you mean 'margin'"),
    ],
)
def test_command_errors(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("activekit: error:") and message in err and err.count("\n") == 1


def test_command_needs_classes_for_a_new_session(capsys, tmp_path, digits):
    write_campaign(tmp_path, digits)
    with pytest.raises(SystemExit):
        main(["label", "--data", str(tmp_path / "pool.csv"), "--session", str(tmp_path / "s.db")])
    assert "give --classes" in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists()


def test_command_demo_writes_a_campaign(capsys, tmp_path):
    assert main(["label", "--demo", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert f"--data {tmp_path / 'demo' / 'pool.csv'} --id-column id" in out
    data = DataTable(tmp_path / "demo" / "pool.csv", id_column="id")
    _, y = load_test_set(tmp_path / "demo" / "test.csv", data.features)
    assert len(data) + len(y) == 1797 and data.images == ["image"] and len(data.features) == 64
    png = data.image_path(data.ids[0], 0)
    assert png == tmp_path / "demo" / "images" / f"{data.ids[0]}.png"
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    image = pytest.importorskip("PIL.Image")  # matplotlib brings Pillow
    with image.open(png) as decoded:
        pixels = np.asarray(decoded)
    digit = load_digits().data[int(data.ids[0].removeprefix("digit"))].reshape(8, 8)
    np.testing.assert_array_equal(pixels, np.kron(np.rint(255 - digit * 255 / 16), np.ones((8, 8))))


def test_command_serves_and_refuses_a_second_server(tmp_path, digits):
    """The real command: a server on 127.0.0.1 that answers the API; a second one on the same
    session exits 2 with a clear message; Ctrl-C stops the first, and the lock with it."""
    import urllib.request

    write_campaign(tmp_path, digits)
    argv = [sys.executable, "-m", "activekit", "label", "--data", str(tmp_path / "pool.csv"),
            "--id-column", "id", "--test", str(tmp_path / "test.csv"),
            "--session", str(tmp_path / "s.db"), "--port", "0", "--batch-size", "4"]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline() + server.stdout.readline()
        assert "open http://127.0.0.1:" in first, first + server.stderr.read()
        url = first.split("open ")[1].split()[0]
        with urllib.request.urlopen(url + "api/next", timeout=20) as response:
            assert len(json.load(response)["items"]) == 4
        second = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "the labelling page (pid" in second.stderr and "already serves the session" in second.stderr
        assert f"pid {server.pid}" in second.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=20)
    assert server.returncode == 0
    with LabelingSession.open(tmp_path / "s.db", DataTable(tmp_path / "pool.csv", id_column="id").rows_for) as session:
        assert len(session.pending()) == 4
        data = DataTable(tmp_path / "pool.csv", id_column="id")
        create_app(session, data).extensions["activekit_labelpage"].close()  # lock released
    assert Path(str(tmp_path / "s.db") + ".server.lock").exists()
