"""Threads: concurrent queries agree with sequential ones, and teach is serialised by a lock.

ActiveLearningClassifier holds a readers-writer lock: ``query`` shares it, ``fit``, ``teach``
and ``should_stop`` take it alone. The tests below would fail without it (a lost teach, a
query that sees the model of one labelled set and the rows of another), and check that
queries still overlap, that the Rust kernels run with the GIL released, and that the lock
stays out of parameters, clones and pickles.
"""

import copy
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression

from activekit import ActiveLearningClassifier, _kernels
from activekit._rwlock import ReadersWriterLock
from activekit.strategies import QueryStrategy, get_strategy_names
from support.strategy_setup import make_learner, targets

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:80], y[:80], X[80:400], y[80:400]


def in_threads(calls, n_threads=4):
    """Run the calls at once (released together by a barrier); their results, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(n_threads) as pool:
        return [f.result(timeout=60) for f in [pool.submit(run, c) for c in calls]]


# -- concurrent queries --------------------------------------------------------------------------


@pytest.mark.parametrize("name", get_strategy_names())
def test_queries_from_four_threads_match_sequential_ones(data, name):
    X, y, pool, _ = data
    learner = make_learner(name).fit(X, targets(name, y))
    jobs = [(pool[i * 80 : (i + 1) * 80], 3 + i) for i in range(4)]  # other rows, other sizes
    want = [learner.query(p, n_instances=k) for p, k in jobs]
    before = pickle.dumps(learner)
    strategy = learner.query_strategy_
    if name == "batch_bald":
        recorded = strategy.shortlist_sizes_, strategy.shortlist_exact_
    got = in_threads([lambda p=p, k=k: learner.query(p, n_instances=k) for p, k in jobs])
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)
    if name == "batch_bald":
        # BatchBALD records the search of its last batch (documented): with four queries at
        # once, whichever finished last. Beyond that record, the learner is unchanged.
        assert len(strategy.shortlist_sizes_) in {k for _, k in jobs}
        assert len(strategy.shortlist_exact_) == len(strategy.shortlist_sizes_)
        strategy.shortlist_sizes_, strategy.shortlist_exact_ = recorded
    if name != "adaptive":  # ALBL records its last query on its strategy (documented)
        assert pickle.dumps(learner) == before


class Rendezvous(QueryStrategy):
    """Picks the first rows, but only once four selections are inside at the same time."""

    name = "rendezvous"

    def select(self, learner, X_pool, n_instances, random_state=None):
        RENDEZVOUS.wait(timeout=5)  # BrokenBarrierError unless the queries overlap
        return np.arange(n_instances)


RENDEZVOUS = threading.Barrier(4)


def test_queries_share_the_lock(data):
    X, y, pool, _ = data
    learner = ActiveLearningClassifier(query_strategy=Rendezvous()).fit(X, y)
    results = in_threads([lambda: learner.query(pool, n_instances=2)] * 4)
    assert [r.tolist() for r in results] == [[0, 1]] * 4


# -- teach against query, and teach against teach ------------------------------------------------


class Watcher(QueryStrategy):
    """Notes the model and the labelled set at the start and the end of a slow selection."""

    name = "watcher"

    def __init__(self, seconds=0.3):
        self.seconds = seconds

    def select(self, learner, X_pool, n_instances, random_state=None):
        start = (id(learner.estimator_), len(learner.y_labeled_))
        WATCHED["inside"].set()
        time.sleep(self.seconds)
        WATCHED["seen"].append((start, (id(learner.estimator_), len(learner.y_labeled_))))
        return np.arange(n_instances)


WATCHED = {}


def test_teach_waits_for_a_query_in_progress(data):
    X, y, pool, y_pool = data
    WATCHED.update(inside=threading.Event(), seen=[])
    learner = ActiveLearningClassifier(query_strategy=Watcher()).fit(X, y)
    query = threading.Thread(target=lambda: learner.query(pool, n_instances=2))
    query.start()
    assert WATCHED["inside"].wait(timeout=10)
    learner.teach(pool[:5], y_pool[:5])  # blocks until the query is done
    query.join(timeout=10)
    (start, end), = WATCHED["seen"]
    assert start == end, "the learner changed under a query"
    assert len(learner.y_labeled_) == 85


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that takes ``seconds`` to fit and tells when it starts."""

    def __init__(self, seconds=0.0):
        self.seconds = seconds

    def fit(self, X, y):
        FITTING.set()
        time.sleep(self.seconds)
        self.model_ = LogisticRegression(max_iter=300).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


FITTING = threading.Event()


def test_a_query_during_teach_sees_the_learner_after_it(data):
    X, y, pool, y_pool = data
    learner = ActiveLearningClassifier(SlowClassifier(0.2), query_strategy="margin").fit(X, y)
    twin = clone(learner).fit(X, y).teach(pool[:20], y_pool[:20])
    FITTING.clear()
    teach = threading.Thread(target=lambda: learner.teach(pool[:20], y_pool[:20]))
    teach.start()
    assert FITTING.wait(timeout=10)
    got = learner.query(pool[20:], n_instances=5)  # waits for the teach
    teach.join(timeout=10)
    np.testing.assert_array_equal(got, twin.query(pool[20:], n_instances=5))


def test_concurrent_teaches_are_serialised_and_none_is_lost(data):
    X, y, pool, y_pool = data
    learner = ActiveLearningClassifier(SlowClassifier(0.05)).fit(X, y)
    batches = [(pool[i * 5 : (i + 1) * 5], y_pool[i * 5 : (i + 1) * 5]) for i in range(4)]
    in_threads([lambda b=b: learner.teach(*b) for b in batches])
    assert learner.n_queries_ == 4
    assert len(learner.y_labeled_) == 100
    # Every batch is there once, in some order.
    taught = learner.X_labeled_[80:].reshape(4, 5, -1)
    assert sorted(pool[:20].reshape(4, 5, -1).tolist()) == sorted(taught.tolist())


def test_a_failed_teach_releases_the_lock(data):
    X, y, pool, _ = data
    learner = ActiveLearningClassifier().fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        learner.teach(pool[:3], [1, 2])
    assert in_threads([lambda: learner.query(pool, n_instances=2)] * 2)[0].shape == (2,)


def test_the_lock_is_not_a_parameter_nor_cloned_nor_pickled(data):
    X, y, pool, _ = data
    learner = ActiveLearningClassifier(random_state=0).fit(X, y)
    learner.query(pool)
    assert isinstance(vars(learner)["_rw_lock"], ReadersWriterLock)
    assert "_rw_lock" not in learner.get_params()
    assert "_rw_lock" not in vars(clone(learner))
    restored = pickle.loads(pickle.dumps(learner))
    assert "_rw_lock" not in vars(restored)
    assert "_rw_lock" in vars(learner)  # pickling left the original's lock alone
    copied = copy.deepcopy(learner)
    np.testing.assert_array_equal(restored.query(pool), learner.query(pool))
    np.testing.assert_array_equal(copied.query(pool), learner.query(pool))
    assert vars(copied)["_rw_lock"] is not vars(learner)["_rw_lock"]


# -- the lock itself -----------------------------------------------------------------------------


def test_a_waiting_writer_goes_before_new_readers():
    lock, order = ReadersWriterLock(), []

    def writer():
        with lock.write():
            order.append("w")

    def reader():
        with lock.read():
            order.append("r")

    with lock.read():
        threads = [threading.Thread(target=writer)]
        threads[0].start()
        while not lock._writers_waiting:  # the writer waits for this reader
            time.sleep(0.001)
        threads.append(threading.Thread(target=reader))
        threads[1].start()
        time.sleep(0.05)
        assert order == []  # and the late reader waits behind the writer
    for t in threads:
        t.join(timeout=5)
    assert order == ["w", "r"]


def test_the_lock_is_reentrant_but_a_reader_cannot_upgrade():
    lock = ReadersWriterLock()
    with lock.write(), lock.write(), lock.read():
        pass
    with lock.read(), lock.read():
        with pytest.raises(RuntimeError, match="holds the lock to read and asked for it to write"):
            with lock.write():
                pass
    with lock.write():  # everything was released
        assert lock.readers == 0


# -- the kernels release the GIL --------------------------------------------------------------


@pytest.fixture(scope="module")
def points():
    return np.random.default_rng(0).standard_normal((20_000, 64)).astype(np.float32)


@pytest.mark.parametrize(
    "kernel",
    [
        lambda X: _kernels.knn_density(X, 10, n_jobs=1),
        # About 0.5 s here: 5,000 picks (0.17 s) once finished inside the 0.12 s this test
        # watches, on a loaded machine, after the k-center kernel got faster.
        lambda X: _kernels.kcenter_greedy(X, X[:1], 19_000, n_jobs=1),
    ],
    ids=["knn_density", "kcenter_greedy"],
)
def test_python_runs_while_a_kernel_does(points, kernel):
    started = threading.Event()

    def work():
        started.set()
        kernel(points)

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    time.sleep(0.02)
    count, end = 0, time.perf_counter() + 0.1
    while time.perf_counter() < end:  # pure Python: needs the GIL
        count += 1
    overlapped = worker.is_alive()
    worker.join()
    assert overlapped, "the kernel finished too soon to tell; make it longer"
    assert count > 1000, f"only {count} Python steps while the kernel ran: it holds the GIL"


def test_a_kernel_does_not_wait_for_another_threads_kernel(points):
    # With n_jobs=1 each calling thread gets a thread of its own: a short kernel here is not
    # queued behind a long one there (they once shared one 1-thread pool, in turn).
    started = threading.Event()

    def long_kernel():
        started.set()
        _kernels.knn_density(points, 10, n_jobs=1)

    worker = threading.Thread(target=long_kernel)
    worker.start()
    started.wait()
    time.sleep(0.05)
    short = _kernels.kcenter_greedy(points[:2000], points[:1], 5, n_jobs=1)
    overlapped = worker.is_alive()
    worker.join()
    assert len(short[0]) == 5
    assert overlapped, "the short kernel waited for the long one"


def test_kernels_from_threads_with_different_thread_counts_agree(points):
    X = points[:3000]
    probs = np.random.default_rng(1).dirichlet(np.ones(5), size=3000)
    calls = [
        lambda n: _kernels.uncertainty_top_k(probs, "entropy", 50, n_jobs=n),
        lambda n: _kernels.kcenter_greedy(X, X[:2], 40, n_jobs=n),
        lambda n: _kernels.knn(X[:500], 5, n_jobs=n),
        lambda n: _kernels.kmeans_plusplus(X, 20, random_state=3, n_jobs=n),
    ]
    n_jobs = [1, 2, None, -1]
    want = [[call(1) for call in calls]] * 4
    got = in_threads([lambda n=n: [call(n) for call in calls] for n in n_jobs])
    for w_run, g_run in zip(want, got, strict=True):
        for w, g in zip(w_run, g_run, strict=True):
            for a, b in zip(w if isinstance(w, tuple) else (w,), g if isinstance(g, tuple) else (g,), strict=True):
                np.testing.assert_array_equal(a, b)
