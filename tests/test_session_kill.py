"""activekit.session across processes: processes killed with SIGKILL at the worst moments lose
no recorded label and resume with the same pending batch; two processes recording at once lose
nothing. The processes run tests/support/session_worker.py."""

import collections
import contextlib
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from activekit.session import LabelingSession, _store
from support import session_worker

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

WORKER = session_worker.__file__
TIMEOUT = 120  # seconds a worker may take to report (imports on a busy 2-core machine)


@pytest.fixture(scope="module")
def pool():
    return session_worker.pool()


class Worker:
    """A worker process and the JSON lines it prints."""

    def __init__(self, path, *args):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        env["MKL_NUM_THREADS"] = "1"
        self.errors = f"{path}.worker-{time.monotonic_ns()}.err"
        with open(self.errors, "w") as errors:
            self.proc = subprocess.Popen(
                [sys.executable, WORKER, str(path), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=env,
            )
        self.lines = queue.Queue()
        self.seen = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def stderr(self):
        with open(self.errors) as errors:
            return errors.read()

    def wait_for(self, key):
        """The value of the first message holding ``key`` (every message is kept in seen)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                message = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"worker said no {key!r} in {TIMEOUT} s") from None
            if message is None:
                self.proc.wait()
                raise AssertionError(
                    f"worker exited ({self.proc.returncode}) before saying {key!r}: {self.stderr()}"
                )
            self.seen.append(message)
            if key in message:
                return message[key]

    def drain(self):
        """Every message printed so far (after the process ended)."""
        while True:
            try:
                message = self.lines.get(timeout=5)
            except queue.Empty:
                return
            if message is None:
                return
            self.seen.append(message)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self):
        if self.proc.stdin:
            self.proc.stdin.close()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.reader.join(TIMEOUT)
        assert self.proc.returncode in (-signal.SIGKILL, 0), self.stderr()

    def finish(self):
        if self.proc.stdin:
            self.proc.stdin.close()
        assert self.proc.wait(timeout=TIMEOUT) == 0, self.stderr()
        self.reader.join(TIMEOUT)
        self.drain()


def create(path, X):
    return LabelingSession.create(
        path,
        session_worker.make_learner(),
        range(session_worker.N_POOL),
        X,
        classes=session_worker.CLASSES,
    )


def labelled(session):
    return dict(session.labels()[["id", "label"]].itertuples(index=False))


def started_session(path, pool, *, refit=True):
    """A session with one batch recorded (and a model), and a second batch pending."""
    X, y = pool
    session = create(path, X)
    batch = session.next_batch()
    session.record(batch, y[batch])
    if refit:
        session.refit()
    pending = session.next_batch()
    return session, pending


def test_killed_between_next_batch_and_record(tmp_path, pool):
    X, y = pool
    path = tmp_path / "s.db"
    session, pending = started_session(path, pool)
    session.record(pending, y[pending])  # nothing pending: the worker asks a new batch
    before = labelled(session)
    session.close()
    worker = Worker(path, "ask")
    asked = worker.wait_for("asked")
    worker.kill()
    with LabelingSession.open(path, X) as session:
        assert labelled(session) == before
        assert session.pending() == asked and len(asked) == 6
        assert session.next_batch() == asked  # the same batch, not a new one
        session.record(asked, y[asked])
        assert session.n_labeled == len(before) + 6


def test_killed_inside_record_writes_nothing_and_keeps_the_batch(tmp_path, pool):
    X, y = pool
    path = tmp_path / "s.db"
    session, pending = started_session(path, pool)
    before = labelled(session)
    session.close()
    worker = Worker(path, "record-hang")
    assert worker.wait_for("stage") == "record:in_transaction"  # the events are inserted
    worker.kill()
    with LabelingSession.open(path, X) as session:  # open checks the file (quick_check)
        assert labelled(session) == before  # the killed transaction left nothing
        assert session.pending() == pending
        assert session.next_batch() == pending
        session.record(pending, y[pending])
        assert labelled(session) == {**before, **{i: int(y[i]) for i in pending}}


@pytest.mark.parametrize("stage", ["refit:fitted", "refit:written", "refit:in_transaction"])
@pytest.mark.parametrize("first", [True, False], ids=["first-fit", "later-fit"])
def test_killed_during_refit(tmp_path, pool, stage, first):
    X, _ = pool
    path = tmp_path / "s.db"
    session, pending = started_session(path, pool, refit=not first)
    version = session.model_version
    before = labelled(session)
    session.close()
    worker = Worker(path, "refit-hang", stage)
    assert worker.wait_for("stage") == stage
    worker.kill()
    with LabelingSession.open(path, X) as session:
        assert session.model_version == version  # the killed refit did not land
        assert labelled(session) == before
        assert session.pending() == pending
        assert session.refit() == version + 1  # a stray checkpoint file does not matter
        assert session.predict(pending).shape == (len(pending),)
    # The stray file of the killed refit is the only checkpoint no row names.
    files = set(os.listdir(str(path) + ".checkpoints"))
    conn = sqlite3.connect(path)
    named = {row[0] for row in conn.execute("SELECT file FROM checkpoints")}
    conn.close()
    assert named <= files
    assert len(files - named) == (0 if stage == "refit:fitted" else 1)


def run_reference(path, X, y, rounds):
    session = create(path, X)
    while session_worker.step(session, y, rounds) is not None:
        pass
    return session


def queries(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT round, rank, pool_id, strategy, model_version, seed FROM queries "
            "ORDER BY query_id"
        ).fetchall()
    finally:
        conn.close()


def test_killed_at_random_moments_loses_nothing_and_asks_the_same(tmp_path, pool):
    """A campaign driven by processes killed at random moments (each pauses 0-20 ms at every
    stage of each write, so kills land inside transactions too) ends with the same queries and
    labels as one run straight through. The processes are forked from one that imported
    everything once, so that many kills stay cheap."""
    X, y = pool
    rounds = 6
    reference = run_reference(tmp_path / "ref.db", X, y, rounds)
    path = tmp_path / "s.db"
    create(path, X).close()
    rng = random.Random(0)
    recorded = {}
    kills = 0
    inside = collections.Counter()  # kills that landed inside a transaction, by stage
    supervisor = Worker(path, "fork-campaign", str(rounds))
    try:
        for attempt in range(60):
            seen = len(supervisor.seen)
            supervisor.send("go")
            child = supervisor.wait_for("pid")
            if attempt < 40:
                time.sleep(rng.uniform(0.0, 0.1))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            status = supervisor.wait_for("exited")
            messages = supervisor.seen[seen:]
            finished = any("finished" in m for m in messages)
            kills += not finished
            # Killed inside a pause, hence inside the transaction of that stage?
            last = messages[-2] if len(messages) >= 2 else {}  # the one before "exited"
            if not finished and last.get("stage", "").endswith(":in_transaction"):
                inside[last["stage"]] += 1
            assert finished or os.WIFSIGNALED(status), supervisor.stderr()
            for message in messages:
                for pid in message.get("recorded", []):
                    recorded[pid] = int(y[pid])
            with LabelingSession.open(path, X) as session:
                # Every label a process saw recorded is there, with the oracle's value.
                current = labelled(session)
                assert {pid: current.get(pid) for pid in recorded} == recorded
            if finished:
                break
    finally:
        supervisor.kill()
    assert finished and kills >= 5, (finished, kills)
    assert sum(inside.values()) >= 1, inside
    assert queries(path) == queries(reference.path)
    with LabelingSession.open(path, X) as session:
        assert labelled(session) == labelled(reference)
        assert session.model_version == reference.model_version == rounds
        np.testing.assert_array_equal(session.predict(range(60)), reference.predict(range(60)))


def test_two_processes_recording_at_once_lose_nothing(tmp_path, pool):
    X, y = pool
    path = tmp_path / "s.db"
    create(path, X).close()
    workers = [Worker(path, "record-many", str(s), "60", "2") for s in (0, 1)]
    for worker in workers:
        worker.wait_for("ready")
    (tmp_path / "s.db.go").touch()  # both start together
    for worker in workers:
        assert worker.wait_for("done") == 30
        worker.finish()
    with LabelingSession.open(path, X) as session:
        assert labelled(session) == {i: int(y[i]) for i in range(60)}
        log = session.audit_log()
        assert log.query("kind == 'label'")["annotator"].value_counts().to_dict() == {
            "process-0": 30,
            "process-1": 30,
        }
        # Six refits in all, numbered one after the other whoever made them.
        assert sorted(log.query("kind == 'refit'")["model_version"]) == [1, 2, 3, 4, 5, 6]


def test_two_processes_asking_at_once_get_one_batch(tmp_path, pool):
    X, y = pool
    path = tmp_path / "s.db"
    session, _ = started_session(path, pool)
    session.record(session.pending(), y[session.pending()])
    session.close()
    workers = [Worker(path, "ask", "together") for _ in range(2)]
    for worker in workers:
        worker.wait_for("ready")
    (tmp_path / "s.db.go").touch()
    asked = [worker.wait_for("asked") for worker in workers]
    for worker in workers:
        worker.kill()
    assert asked[0] == asked[1] and len(asked[0]) == 6
    with LabelingSession.open(path, X) as session:
        assert session.pending() == asked[0]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(round), COUNT(*) FROM queries").fetchone() == (3, 18)
    conn.close()


def test_a_lock_held_too_long_is_a_clear_error_and_writes_nothing(tmp_path, pool, monkeypatch):
    X, _ = pool
    monkeypatch.setattr(_store, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(_store, "BUSY_RETRIES", 3)
    path = tmp_path / "s.db"
    session = create(path, X)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock
    with pytest.raises(TimeoutError, match=r"s\.db.*stayed locked .* 3 tries"):
        session.record([0], [0])
    # Released while the session retries: the write lands.
    threading.Timer(0.1, lambda: holder.execute("ROLLBACK")).start()
    monkeypatch.setattr(_store, "BUSY_RETRIES", 50)
    assert session.record([0], [0]) == 1
    holder.close()
    assert labelled(session) == {0: 0}
    session.close()
