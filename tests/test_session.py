"""activekit.session: the labelling session in SQLite (one process; the killed-process and
two-process guarantees are in test_session_kill.py)."""

import csv
import os
import shutil
import sqlite3
import sys
import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from activekit import ActiveLearningClassifier
from activekit.session import LabelingSession, _store
from activekit.session import _session as session_module

N_POOL = 150
CLASSES = list(range(10))


@pytest.fixture(scope="module")
def pool(digits):
    X, y = digits
    return X[:N_POOL], y[:N_POOL]


def learner(**params):
    params = {"batch_size": 8, "random_state": 7, **params}
    return ActiveLearningClassifier(**params)


def make(tmp_path, pool, name="s.db", **kwargs):
    X, _ = pool
    kwargs.setdefault("classes", CLASSES)
    return LabelingSession.create(tmp_path / name, learner(), range(N_POOL), X, **kwargs)


def table(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def snapshot(path):
    """Everything a failed call must leave untouched."""
    return (
        table(path, "SELECT * FROM label_events ORDER BY event_id"),
        table(path, "SELECT * FROM queries ORDER BY query_id"),
        table(path, "SELECT * FROM checkpoints ORDER BY model_version"),
    )


# -- a campaign -------------------------------------------------------------------------------


def test_a_campaign_asks_records_and_fits(tmp_path, pool):
    X, y = pool
    session = make(tmp_path, pool)
    assert session.model_version == 0 and session.n_labeled == 0
    assert session.classes == CLASSES and session.strategy == "margin"
    first = session.next_batch()
    assert len(first) == 8 and len(set(first)) == 8
    assert set(first) <= set(range(N_POOL))
    assert session.pending() == first
    assert session.next_batch() == first  # unanswered: the same batch, nothing new asked
    assert session.next_batch(3) == first  # k does not matter while a batch is pending
    assert session.record(first[:3], y[first[:3]], annotator="ann", lead_time=2.5) == 3
    assert session.pending() == first[3:]
    assert session.next_batch() == first[3:]  # the rest of the batch is still pending
    session.record(first[3:], y[first[3:]], annotator="bob")
    assert session.pending() == []
    with pytest.raises(NotFittedError, match="no model yet"):
        session.predict(first)
    version = session.refit()
    assert version == session.model_version == 1
    assert session.learner.n_queries_ == 0 and session.learner.budget is None
    second = session.next_batch()
    assert len(second) == 8 and not set(second) & set(first)
    assert session.predict(second).shape == (8,)
    np.testing.assert_array_equal(session.predict(second), session.learner.predict(X[second]))
    order = session.ranking(second)
    assert sorted(order) == sorted(second)
    assert session.ranking(second) == order  # seeded: the same order each time
    assert session.n_labeled == 8
    log = session.audit_log()
    queries = log[log["kind"] == "query"]
    assert queries["round"].tolist() == [1] * 8 + [2] * 8
    assert queries["strategy"].tolist() == ["random"] * 8 + ["margin"] * 8
    assert queries["model_version"].tolist() == [0] * 8 + [1] * 8
    assert queries["score"].iloc[:8].isna().all() and queries["score"].iloc[8:].notna().all()
    assert queries["seed"].nunique() == 2 and queries["params_hash"].nunique() == 1
    assert (log["kind"] == "refit").sum() == 1
    session.close()


def test_query_scores_follow_the_strategy(tmp_path, pool):
    X, y = pool
    session = make(tmp_path, pool)
    batch = session.next_batch()
    session.record(batch, y[batch])
    session.refit()
    batch = session.next_batch()
    log = session.audit_log()
    scores = log[(log["kind"] == "query") & (log["round"] == 2)]["score"].to_numpy(float)
    assert np.all(np.diff(scores) <= 1e-12)  # most informative (highest score) first
    # The same rows through the learner: its margin ranking over the unlabelled rows.
    unlabelled = [i for i in range(N_POOL) if i not in set(log[log["kind"] == "label"]["id"])]
    seed = int(log[(log["kind"] == "query") & (log["round"] == 2)]["seed"].iloc[0])
    asker = session.learner
    asker.random_state = seed
    expected = asker.query(X[unlabelled], n_instances=8)
    assert batch == [unlabelled[i] for i in expected]


def test_next_batch_before_a_model_fits_the_first_one(tmp_path, pool):
    _, y = pool
    session = make(tmp_path, pool)
    session.record([0, 1, 2], y[[0, 1, 2]])  # unsolicited, three classes
    assert session.model_version == 0
    batch = session.next_batch()
    assert session.model_version == 1  # the first model was fitted to ask this batch
    assert session.audit_log().query("kind == 'query'")["strategy"].unique().tolist() == ["margin"]
    assert len(batch) == 8


def test_pool_exhausted_and_short_batches(tmp_path, pool):
    X, _ = pool
    session = LabelingSession.create(tmp_path / "s.db", learner(), range(5), X[:5])
    assert len(session.next_batch(3)) == 3
    session.record(session.pending(), [0, 1, 2])
    assert sorted(session.next_batch(10)) == sorted(set(range(5)) - set(session.labels()["id"]))
    session.record(session.pending(), [0, 1])
    assert session.next_batch() == []
    assert session.n_labeled == 5


@pytest.mark.parametrize(
    ("k", "error"),
    [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError), ("3", TypeError)],
)
def test_next_batch_checks_k(tmp_path, pool, k, error):
    session = make(tmp_path, pool)
    with pytest.raises(error, match="k must be a positive integer"):
        session.next_batch(k)
    assert session.pending() == []


# -- determinism: a campaign resumed from disk asks what an uninterrupted one asks ----------


def run_campaign(path, pool_arg, X, y, ids, *, reopen, rounds=5):
    def again(session):
        if not reopen:
            return session
        session.close()
        return LabelingSession.open(path, pool_arg)

    session = LabelingSession.create(path, learner(), ids, pool_arg, classes=CLASSES)
    asked = []
    position = {pid: i for i, pid in enumerate(ids)}
    for _ in range(rounds):
        session = again(session)
        batch = session.next_batch()
        asked.append(batch)
        session = again(session)
        assert session.next_batch() == batch
        session = again(session)
        session.record(batch, [int(y[position[pid]]) for pid in batch])
        session = again(session)
        if len(session.classes) and session.labels()["label"].nunique() >= 2:
            session.refit()
    session.close()
    return asked


def test_resumed_campaign_asks_what_an_uninterrupted_one_asks(tmp_path, pool):
    X, y = pool
    ids = list(range(N_POOL))
    straight = run_campaign(tmp_path / "a.db", X, X, y, ids, reopen=False)
    resumed = run_campaign(tmp_path / "b.db", X, X, y, ids, reopen=True)
    assert resumed == straight
    assert len({pid for batch in straight for pid in batch}) == 5 * 8
    # Another seed asks something else: the equality above is not an accident.
    other = LabelingSession.create(tmp_path / "c.db", learner(random_state=8), ids, X)
    assert other.next_batch() != straight[0]


def test_asking_under_the_write_lock_asks_the_same(tmp_path, pool, monkeypatch):
    """next_batch's last try computes holding the write lock; it asks what the optimistic
    tries ask."""
    X, y = pool
    ids = list(range(N_POOL))
    optimistic = run_campaign(tmp_path / "a.db", X, X, y, ids, reopen=False, rounds=3)
    monkeypatch.setattr(session_module, "_OPTIMISTIC_TRIES", 0)
    holding = run_campaign(tmp_path / "b.db", X, X, y, ids, reopen=False, rounds=3)
    assert holding == optimistic


def test_a_label_recorded_while_a_batch_is_computed_makes_it_computed_again(
    tmp_path, pool, monkeypatch
):
    X, y = pool
    session = make(tmp_path, pool)
    session.record([0, 1, 2], y[:3])
    session.refit()
    other = LabelingSession.open(session.path, X)  # another connection, as another process
    choose = LabelingSession._choose
    calls = []

    def choose_while_someone_labels(self, candidates, k, seed, learner):
        picked = choose(self, candidates, k, seed, learner)
        if not calls:
            other.record([picked[0][0]], [int(y[picked[0][0]])])  # the top pick, meanwhile
        calls.append(picked[0])
        return picked

    monkeypatch.setattr(LabelingSession, "_choose", choose_while_someone_labels)
    batch = session.next_batch()
    assert len(calls) == 2 and batch == calls[1] != calls[0]
    assert calls[0][0] not in batch  # labelled meanwhile: not asked
    assert table(session.path, "SELECT COUNT(DISTINCT round) FROM queries") == [(1,)]


def test_random_state_none_is_drawn_once_and_kept(tmp_path, pool):
    """With ``random_state=None`` the seed is drawn at create and stored: a copy of the file
    resumed step by step asks what the original asks straight through."""
    X, y = pool
    first = tmp_path / "a.db"
    LabelingSession.create(first, learner(random_state=None), range(N_POOL), X).close()
    second = tmp_path / "b.db"
    shutil.copyfile(first, second)
    shutil.copytree(f"{first}.checkpoints", f"{second}.checkpoints")
    asked = {}
    for path, reopen in ((first, False), (second, True)):
        session = LabelingSession.open(path, X)
        asked[path] = []
        for _ in range(3):
            batch = session.next_batch()
            asked[path].append(batch)
            session.record(batch, y[batch])
            if reopen:
                session.close()
                session = LabelingSession.open(path, X)
            session.refit()
        session.close()
    assert asked[first] == asked[second]
    third = LabelingSession.create(tmp_path / "c.db", learner(random_state=None), range(N_POOL), X)
    assert third.next_batch() != asked[first][0]  # another draw (1 chance in C(150, 8) to fail)


@pytest.mark.parametrize("kind", ["frame", "callable"])
def test_every_pool_loader_asks_the_same(tmp_path, pool, kind):
    X, y = pool
    ids = [f"img-{i:03d}" for i in range(N_POOL)]
    if kind == "frame":
        frame = pd.DataFrame(X, index=ids).iloc[::-1]  # any row order: rows are found by id
        frame.columns = [f"px{j}" for j in range(X.shape[1])]
        loader = frame
    else:
        calls = []

        def loader(wanted):
            calls.append(len(wanted))
            return X[[int(w[4:]) for w in wanted]]

    with_ids = run_campaign(tmp_path / "a.db", loader, X, y, ids, reopen=True, rounds=3)
    with_array = run_campaign(tmp_path / "b.db", X, X, y, ids, reopen=False, rounds=3)
    assert with_ids == with_array
    if kind == "callable":
        assert calls  # the rows came through the callable


# -- bad input: a clear error, nothing written -----------------------------------------------


@pytest.mark.parametrize(
    ("ids", "labels", "match"),
    [
        ([0, 1, 999], [0, 1, 2], r"unknown ids \[999\]"),
        ([0, "1"], [0, 1], r"unknown ids \['1'\].*integers"),
        ([0, 1.5], [0, 1], r"unknown ids \[1.5\]"),
        ([3, 4, 3], [0, 1, 2], r"repeated ids \[3\]"),
        ([0, 1], [0, 11], r"labels \[11\] are not in classes"),
        ([0, 1], [0, "1"], r"labels \['1'\] are not in classes"),
        ([0, 1], [0, True], r"labels \[True\] are not in classes"),
        ([0, 1], [0, float("nan")], r"labels \[nan\] are not in classes"),
        ([0, 1], [0, 2**70], r"labels \[1180591620717411303424\] are not in classes"),
        ([0, 1], [0], r"one label per id \(2\), got 1"),
    ],
)
def test_record_rejects_bad_input_and_writes_nothing(tmp_path, pool, ids, labels, match):
    session = make(tmp_path, pool)
    batch = session.next_batch()
    session.record(batch[:2], [0, 1])
    before = snapshot(session.path)
    with pytest.raises(ValueError, match=match):
        session.record(ids, labels)
    assert snapshot(session.path) == before
    assert session.pending() == batch[2:]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"annotator": 3}, TypeError, "annotator must be a string or None, got int 3"),
        ({"annotator": ["a"]}, ValueError, r"annotator must be one value or one per id \(2\)"),
        ({"lead_time": -1.0}, ValueError, "lead_time must be a finite number of seconds >= 0"),
        ({"lead_time": "2s"}, TypeError, "lead_time must be a number of seconds"),
        ({"note": 5}, TypeError, "note must be a string or None"),
    ],
)
def test_record_checks_its_keywords(tmp_path, pool, kwargs, error, match):
    session = make(tmp_path, pool)
    before = snapshot(session.path)
    with pytest.raises(error, match=match):
        session.record([0, 1], [0, 1], **kwargs)
    assert snapshot(session.path) == before


def test_a_failure_inside_the_transaction_writes_nothing(tmp_path, pool, monkeypatch):
    session = make(tmp_path, pool)
    session.record([0], [0])
    before = snapshot(session.path)

    def fail(stage):
        if stage == "record:in_transaction":
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(session_module, "_pause", fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        session.record([1, 2, 3], [1, 2, 3])
    assert snapshot(session.path) == before
    monkeypatch.undo()
    assert session.record([1, 2, 3], [1, 2, 3]) == 3  # the session is still usable
    assert session.n_labeled == 4


def test_labels_without_classes_are_learnt_and_kept_of_one_kind(tmp_path, pool):
    X, _ = pool
    session = LabelingSession.create(tmp_path / "s.db", learner(), range(N_POOL), X)
    assert session.classes == []
    session.record([0, 1], ["cat", "dog"])
    session.record([2], ["bird"])
    assert session.classes == ["bird", "cat", "dog"]
    before = snapshot(session.path)
    with pytest.raises(ValueError, match="all strings or all numbers"):
        session.record([3], [4])  # checked against the stored labels, inside the transaction
    with pytest.raises(ValueError, match="all strings or all numbers, got a mix"):
        session.record([3, 4], ["cat", 4])
    assert snapshot(session.path) == before
    session.refit()
    assert set(session.predict([5, 6])) <= {"bird", "cat", "dog"}


def test_unsolicited_labels_are_allowed_and_flagged(tmp_path, pool):
    _, y = pool
    session = make(tmp_path, pool)
    batch = session.next_batch()
    outside = next(i for i in range(N_POOL) if i not in batch)
    session.record([batch[0], outside], [int(y[batch[0]]), int(y[outside])])
    labels = session.labels().set_index("id")
    assert labels.loc[outside, "unsolicited"] and not labels.loc[batch[0], "unsolicited"]
    assert session.pending() == batch[1:]  # the batch is unchanged by the unsolicited label


def test_edits_deletions_and_skips_are_events(tmp_path, pool):
    _X, _y = pool
    session = make(tmp_path, pool)
    batch = session.next_batch()
    a, b, c = batch[:3]
    session.record([a, b], [1, 2], annotator="ann")
    session.record([a], [3], annotator="bob", note="was wrong")  # an edit
    assert session.labels().set_index("id").loc[a, ["label", "annotator", "note"]].tolist() == [
        3,
        "bob",
        "was wrong",
    ]
    assert session.delete([b], annotator="bob") == 1
    assert b not in session.labels()["id"].tolist() and session.n_labeled == 1
    with pytest.raises(ValueError, match=rf"\[{b}\] have no label to delete"):
        session.delete([b])
    assert session.skip([c], note="blurry") == 1
    assert c not in session.pending()
    session.record(session.pending(), [0] * len(session.pending()))
    later = set()
    for _ in range(3):
        new = session.next_batch()
        later.update(new)
        session.record(new, [0] * len(new))
    assert c not in later  # a skipped id is not asked again
    assert b in set(session.pending()) | later or b not in session.labels()["id"].tolist()
    kinds = session.audit_log()["kind"].tolist()
    assert kinds.count("delete") == 1 and kinds.count("skip") == 1
    log = session.audit_log()
    assert log[log["id"] == a].query("kind == 'label'")["label"].tolist() == [1, 3]


# -- export -----------------------------------------------------------------------------------


def test_labels_csv_and_audit_log(tmp_path, pool):
    _, y = pool
    session = make(tmp_path, pool)
    batch = session.next_batch()
    session.record(batch, y[batch], annotator="ann", lead_time=[1.0] * 8, note="n")
    labels = session.labels()
    assert labels.columns.tolist() == [
        "id",
        "label",
        "annotator",
        "time",
        "lead_time",
        "note",
        "unsolicited",
        "event_id",
    ]
    assert labels["id"].tolist() == sorted(batch)  # pool order
    assert labels.set_index("id").loc[batch, "label"].tolist() == y[batch].tolist()
    assert str(labels["time"].dt.tz) == "UTC"
    assert session.export_csv(tmp_path / "labels.csv") == 8
    with open(tmp_path / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["id"]) for r in rows] == labels["id"].tolist()
    assert [int(r["label"]) for r in rows] == labels["label"].tolist()
    assert {r["annotator"] for r in rows} == {"ann"} and rows[0]["time"].endswith("+00:00")
    log = session.audit_log()
    assert log["kind"].tolist() == ["query"] * 8 + ["label"] * 8
    assert log["time"].is_monotonic_increasing
    answered = log[log["kind"] == "query"]["answered_by"].tolist()
    assert sorted(answered) == sorted(log[log["kind"] == "label"]["event_id"].tolist())


def test_empty_calls_do_nothing(tmp_path, pool):
    _, y = pool
    session = make(tmp_path, pool)
    before = snapshot(session.path)
    assert session.record([], []) == 0
    assert session.delete([]) == session.skip([]) == 0
    assert session.ranking([]) == []
    assert snapshot(session.path) == before
    session.record([0, 1], y[:2])
    session.refit()
    assert session.predict([]).shape == (0,)


def test_labels_and_audit_log_need_pandas_and_say_so(tmp_path, pool, monkeypatch):
    session = make(tmp_path, pool)
    session.record([0], [0])
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pandas is required .* pip install"):
        session.labels()
    with pytest.raises(ImportError, match="pandas is required"):
        session.audit_log()
    assert session.export_csv(tmp_path / "labels.csv") == 1  # the csv module needs no pandas


# -- files: creating, opening, damage, schema versions -------------------------------------


def test_create_refuses_an_existing_file_unless_overwrite(tmp_path, pool):
    _X, _y = pool
    session = make(tmp_path, pool)
    session.record([0, 1], [0, 1])
    session.refit()
    session.close()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        make(tmp_path, pool)
    fresh = make(tmp_path, pool, overwrite=True)
    assert fresh.n_labeled == 0 and fresh.model_version == 0
    assert len(os.listdir(str(tmp_path / "s.db") + ".checkpoints")) == 1  # the old ones went


def test_a_failed_create_leaves_the_old_session(tmp_path, pool):
    X, _ = pool
    session = make(tmp_path, pool)
    session.record([0], [0])
    session.close()
    with pytest.raises(ValueError, match="no-such-strategy"):
        LabelingSession.create(
            tmp_path / "s.db",
            learner(query_strategy="no-such-strategy"),
            range(N_POOL),
            X,
            overwrite=True,
        )
    assert LabelingSession.open(tmp_path / "s.db", X).n_labeled == 1


def test_labels_since_refit_counts_what_the_model_has_not_seen(tmp_path, pool):
    _, y = pool
    session = make(tmp_path, pool)
    assert session.labels_since_refit == 0
    session.record([0, 1, 2], y[:3])
    session.skip([5])  # not a label: does not count
    assert session.labels_since_refit == 3
    session.refit()
    assert session.labels_since_refit == 0
    session.record([3], y[3:4])
    session.delete([0])
    assert session.labels_since_refit == 2
    session.close()
    assert LabelingSession.open(tmp_path / "s.db", pool[0]).labels_since_refit == 2


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ({"learner": "margin"}, TypeError, "learner must be an activekit ActiveLearningClassifier"),
        ({"learner": learner(batch_size=0)}, ValueError, "batch_size"),
        ({"pool_ids": []}, ValueError, "pool_ids must hold at least one id"),
        ({"pool_ids": [0, 1, 1]}, ValueError, r"pool_ids must be unique; repeated: \[1\]"),
        ({"pool_ids": [0, "a"]}, TypeError, "all integers or all strings"),
        ({"pool_ids": [0, 1.5]}, TypeError, r"pool_ids must be integers or strings, got \[1.5\]"),
        ({"pool_ids": [0, 2**64]}, ValueError, "64 bits"),
        ({"pool_ids": 5}, TypeError, "pool_ids must be a sequence"),
        ({"classes": [1]}, ValueError, "classes must hold at least 2 labels"),
        ({"classes": [1, 1, 2]}, ValueError, "classes must be unique"),
        ({"classes": [1, "a"]}, TypeError, "all strings or all numbers"),
        ({"pool": np.zeros((3, 2))}, ValueError, "pool has 3 rows but the session has 4 pool ids"),
        ({"pool": np.zeros(4)}, ValueError, "pool must be 2-D"),
        ({"pool": 3}, TypeError, "pool must be a 2-D array"),
        (
            {"pool": pd.DataFrame(np.zeros((3, 2)), index=[0, 1, 2])},
            ValueError,
            r"index lacks 1 of the session's 4 pool ids: \[3\]",
        ),
    ],
)
def test_create_checks_its_arguments(tmp_path, args, error, match):
    kwargs = {
        "learner": learner(),
        "pool_ids": [0, 1, 2, 3],
        "pool": np.zeros((4, 2)),
        **args,
    }
    classes = kwargs.pop("classes", None)
    with pytest.raises(error, match=match):
        LabelingSession.create(tmp_path / "s.db", classes=classes, **kwargs)
    assert not os.path.exists(tmp_path / "s.db")


def test_a_callable_pool_returning_the_wrong_rows_is_an_error(tmp_path, pool):
    X, _ = pool
    session = LabelingSession.create(
        tmp_path / "s.db", learner(), range(N_POOL), lambda ids: X[: len(ids) - 1]
    )
    session.record([0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"pool\(2 ids\) returned 1 rows"):
        session.refit()
    assert session.model_version == 0


def test_open_checks_the_pool_against_the_ids(tmp_path, pool):
    X, _ = pool
    make(tmp_path, pool).close()
    with pytest.raises(ValueError, match="pool has 10 rows but the session has 150"):
        LabelingSession.open(tmp_path / "s.db", X[:10])


def test_missing_foreign_and_corrupt_files(tmp_path, pool):
    X, _ = pool
    with pytest.raises(FileNotFoundError, match="no session database"):
        LabelingSession.open(tmp_path / "nothing.db", X)
    assert not os.path.exists(tmp_path / "nothing.db")  # open never creates

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ValueError, match=r"garbage\.db.*not an activekit session database"):
        LabelingSession.open(garbage, X)

    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(ValueError, match=r"foreign\.db.*SQLite database but not an activekit"):
        LabelingSession.open(foreign, X)
    assert foreign.read_bytes() == before  # a foreign file is not touched (no WAL switch)

    session = make(tmp_path, pool, name="broken.db")
    session.record([0, 1], [0, 1])
    session.close()
    broken = tmp_path / "broken.db"
    data = bytearray(broken.read_bytes())
    data[4096:8192] = np.random.RandomState(0).bytes(4096)  # garble page 2 (the meta table)
    broken.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"broken\.db.* (corrupt|damaged) session database"):
        LabelingSession.open(broken, X)

    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(ValueError, match=r"empty\.db' is an empty file"):
        LabelingSession.open(empty, X)
    assert empty.stat().st_size == 0

    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(bytes(data[:5000]))
    with pytest.raises(ValueError, match=r"truncated\.db"):
        LabelingSession.open(truncated, X)


def test_a_changed_checkpoint_is_refused(tmp_path, pool):
    X, _ = pool
    session = make(tmp_path, pool)
    session.record([0, 1], [0, 1])
    session.refit()
    session.close()
    (file,) = table(tmp_path / "s.db", "SELECT file FROM checkpoints WHERE model_version = 1")[0]
    full = tmp_path / "s.db.checkpoints" / file
    full.write_bytes(full.read_bytes() + b"x")
    session = LabelingSession.open(tmp_path / "s.db", X)
    with pytest.raises(ValueError, match=rf"{file}.*model version 1 does not match the hash"):
        session.predict([0])
    session.close()
    os.remove(full)
    session = LabelingSession.open(tmp_path / "s.db", X)
    with pytest.raises(ValueError, match=r"checkpoint of model version 1.*cannot be read"):
        session.predict([0])


def test_a_newer_schema_is_refused(tmp_path, pool):
    X, _ = pool
    make(tmp_path, pool).close()
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute(f"PRAGMA user_version = {_store.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ValueError, match=r"schema version 3, newer than this activekit reads"):
        LabelingSession.open(tmp_path / "s.db", X)


def test_a_version_1_file_is_migrated(tmp_path, pool):
    """A file as version 1 wrote it (no ``note`` column): opened, it is migrated to the
    current schema, keeps its labels and queries, and takes notes."""
    X, _ = pool
    template = make(tmp_path, pool, name="template.db")  # for its meta and checkpoint
    meta = table(template.path, "SELECT key, value FROM meta")
    checkpoint = table(template.path, "SELECT * FROM checkpoints")
    template.close()
    path = tmp_path / "old.db"
    os.rename(str(tmp_path / "template.db") + ".checkpoints", str(path) + ".checkpoints")
    conn = _store.connect(path, create=True)
    _store.migrate(conn, 0, 1)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta)
    conn.executemany("INSERT INTO pool VALUES (?, ?)", enumerate(range(N_POOL)))
    conn.executemany("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?)", checkpoint)
    conn.execute(
        "INSERT INTO queries (round, rank, pool_id, strategy, model_version, params_hash, "
        "seed, time, answered_by) VALUES (1, 0, 5, 'random', 0, 'h', 1, 0, 1), "
        "(1, 1, 6, 'random', 0, 'h', 1, 0, NULL)"
    )
    conn.execute(
        "INSERT INTO label_events (pool_id, kind, label, annotator, time) "
        "VALUES (5, 'label', 3, 'old', 0)"
    )
    conn.close()
    columns = [row[1] for row in table(path, "PRAGMA table_info(label_events)")]
    assert "note" not in columns and table(path, "PRAGMA user_version") == [(1,)]

    session = LabelingSession.open(path, X)
    assert table(path, "PRAGMA user_version") == [(_store.SCHEMA_VERSION,)]
    assert "note" in [row[1] for row in table(path, "PRAGMA table_info(label_events)")]
    labels = session.labels()
    assert labels[["id", "label", "annotator"]].values.tolist() == [[5, 3, "old"]]
    assert labels["note"].isna().all()
    assert session.pending() == [6]
    session.record([6], [1], note="after the migration")
    assert session.labels().set_index("id").loc[6, "note"] == "after the migration"
    session.close()
    LabelingSession.open(path, X).close()  # opening a migrated file again changes nothing
    assert table(path, "PRAGMA user_version") == [(_store.SCHEMA_VERSION,)]


def test_two_connections_migrating_at_once_migrate_once(tmp_path):
    """Both read version 1 before either migrates (two processes opening an old file): the
    second finds the file migrated under the write lock and runs nothing twice."""
    path = tmp_path / "old.db"
    conn = _store.connect(path, create=True)
    _store.migrate(conn, 0, 1)
    conn.close()
    first, second = _store.connect(path), _store.connect(path)
    assert table(path, "PRAGMA user_version") == [(1,)]
    _store.migrate(first, 1, _store.SCHEMA_VERSION)
    _store.migrate(second, 1, _store.SCHEMA_VERSION)  # no "duplicate column" error
    columns = [row[1] for row in table(path, "PRAGMA table_info(label_events)")]
    assert columns.count("note") == 1
    assert table(path, "PRAGMA user_version") == [(_store.SCHEMA_VERSION,)]
    first.close()
    second.close()


def test_a_closed_session_says_so(tmp_path, pool):
    session = make(tmp_path, pool)
    session.close()
    session.close()
    with pytest.raises(ValueError, match="is closed"):
        session.next_batch()
    assert "closed" in repr(session)
    with pytest.raises(TypeError, match=r"LabelingSession\.create"):
        LabelingSession()


# -- threads ----------------------------------------------------------------------------------


def test_refit_on_a_thread_while_recording_on_another(tmp_path, pool):
    _, y = pool
    session = make(tmp_path, pool)
    session.record([0, 1, 2, 3], y[:4])
    errors, versions = [], []
    done = threading.Event()

    def refit_loop():
        try:
            while not done.is_set():
                versions.append(session.refit())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def record_loop(ids):
        try:
            for pid in ids:
                session.record([pid], [int(y[pid])], annotator=f"t{ids[0] % 2}")
                session.labels()
                session.pending()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    fitter = threading.Thread(target=refit_loop)
    recorders = [
        threading.Thread(target=record_loop, args=(list(range(s, 100, 2)),)) for s in (4, 5)
    ]
    fitter.start()
    for thread in recorders:
        thread.start()
    for thread in recorders:
        thread.join()
    done.set()
    fitter.join()
    assert errors == []
    assert session.n_labeled == 100
    assert session.labels()["label"].tolist() == y[:100].tolist()
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 1
    last = session.refit()
    assert session.model_version == last and session.learner.y_labeled_.shape == (100,)


def test_next_batch_from_two_threads_asks_one_batch(tmp_path, pool):
    _, y = pool
    session = make(tmp_path, pool)
    session.record([0, 1, 2], y[:3])
    session.refit()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(session.next_batch())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert session.pending() == results[0]
    assert table(session.path, "SELECT COUNT(DISTINCT round) FROM queries") == [(1,)]
