"""Dask pools (``activekit._dask``): ``learner.query`` over a dask Array or DataFrame gives the
in-memory picks for row-wise strategies under any row chunking (ties to the lowest global
position), valid and seeded picks for set-based ones (coreset within 4x the exact greedy's
covering radius), on Dask's threads and on a two-process LocalCluster, which gets the learner
once per worker, never sends a block to the client, and survives a worker killed mid-query."""

import functools
import os
import pickle
import signal
import threading
import time

import cloudpickle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from activekit import ActiveLearningClassifier
from activekit.strategies import EpsilonGreedy, combine, get_strategy_names
from support.strategy_setup import is_multilabel_only, is_regression_only, make_learner, targets

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
distributed = pytest.importorskip("distributed")

N_POOL = 48
K = 5


@functools.cache
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def pool():
    return digits()[0][200 : 200 + N_POOL]


def row_exact_estimator(name):
    """An estimator that predicts each row to the same bits whatever rows come with it:
    forests for regression and multi-label targets, and trees, forests and naive Bayes in
    turn for the classification strategies."""
    if is_regression_only(name):
        return DecisionTreeRegressor(max_depth=4, random_state=0)
    if is_multilabel_only(name):
        return RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0)
    choices = (
        RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0),
        DecisionTreeClassifier(max_depth=5, random_state=0),
        GaussianNB(),
    )
    return choices[sorted(get_strategy_names()).index(name) % 3]


@functools.cache
def fitted(name):
    """A fitted learner for strategy ``name``; ``None`` where it needs a model whose gradient
    it knows (BADGE, EGL: logistic regression, tested for rounding below)."""
    X, y = digits()
    learner = make_learner(name, row_exact_estimator(name))
    try:
        learner.fit(X[:40], targets(name, y[:40]))
        learner.query(X[:2], n_instances=1)
        return learner
    except TypeError as error:
        assert "gradient" in str(error)
        return None


@functools.cache
def fitted_lr(name):
    X, y = digits()
    return make_learner(name).fit(X[:40], targets(name, y[:40]))


def _row_wise(name):
    learner = fitted(name) or fitted_lr(name)
    return learner.query_strategy_.scores_rows_independently(learner)


NAMES = get_strategy_names()
ROW_WISE = [n for n in NAMES if _row_wise(n)]
SET_BASED = [
    n for n in NAMES if not _row_wise(n) and n not in ("random", "epsilon_greedy", "adaptive")
]


@st.composite
def row_chunks(draw, n, max_chunks=None):
    """A partition of ``n`` rows into chunks: one chunk, all 1-row chunks, or random cuts
    (so chunks smaller than ``k`` too)."""
    kind = draw(st.sampled_from(["one", "rows", "cuts", "cuts"]))
    if kind == "one" or n == 1:
        return (n,)
    if kind == "rows" and max_chunks is None:
        return (1,) * n
    limit = (max_chunks or n) - 1
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=min(limit, n - 1))))
    return tuple(np.diff([0, *cuts, n]).tolist())


def as_dask(X, chunks):
    return da.from_array(X, chunks=(chunks, X.shape[1]))


@pytest.fixture(autouse=True)
def threads():
    """Dask's threads, unless a test names the cluster's client."""
    with dask.config.set(scheduler="threads"):
        yield


def test_the_registry_has_row_wise_and_set_based_strategies():
    assert {"margin", "entropy", "bald", "mmc", "committee_variance"} <= set(ROW_WISE)
    assert {"coreset", "ranked_batch", "kmeans", "typiclust", "cluster_margin"} <= set(SET_BASED)
    assert {"badge", "batch_bald"} <= set(SET_BASED)


# -- row-wise strategies: the in-memory picks and scores ------------------------------------


#: Row-wise strategies whose scores on a Dask pool agree to rounding only: information
#: density sums the pool's unit rows chunk by chunk (then in a tree), not in one pass.
TO_ROUNDING = {"information_density"}


@pytest.mark.parametrize(
    "name", [n for n in ROW_WISE if fitted(n) is not None and n not in TO_ROUNDING]
)
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_row_wise_picks_and_scores_are_the_in_memory_ones_for_any_chunking(name, data):
    learner = fitted(name)
    X = pool()
    k = data.draw(st.integers(1, 12), label="k")
    chunks = data.draw(row_chunks(N_POOL), label="chunks")
    expected, expected_scores = learner.query(X, n_instances=k, return_scores=True)
    got, scores = learner.query(as_dask(X, chunks), n_instances=k, return_scores=True)
    assert got.dtype == np.intp
    assert_array_equal(got, expected)
    assert_array_equal(scores, expected_scores)
    assert_array_equal(learner.query(as_dask(X, chunks), n_instances=k), expected)


@pytest.mark.parametrize(
    "strategy",
    [
        "random",
        "epsilon_greedy",
        combine("margin", "entropy", method="product"),
    ],
    ids=["random", "epsilon_greedy", "combine_product"],
)
@settings(max_examples=12, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_random_epsilon_greedy_and_products_are_the_in_memory_picks(strategy, data, seed):
    X, y = digits()
    if strategy == "epsilon_greedy":
        epsilon = data.draw(st.sampled_from([0.3, 0.5, 1.0]), label="epsilon")
        strategy = EpsilonGreedy(base="margin", epsilon=epsilon)
    learner = ActiveLearningClassifier(
        DecisionTreeClassifier(max_depth=5, random_state=0),
        query_strategy=strategy,
        random_state=seed,
    ).fit(X[:40], y[:40])
    assert learner.query_strategy_.scores_rows_independently(learner) == (
        not isinstance(strategy, str) and type(strategy).__name__ == "CombinedStrategy"
    )
    k = data.draw(st.integers(1, 12), label="k")
    chunks = data.draw(row_chunks(N_POOL), label="chunks")
    assert_array_equal(
        learner.query(as_dask(pool(), chunks), n_instances=k), learner.query(pool(), n_instances=k)
    )


@settings(max_examples=20, deadline=None)
@given(chunks=row_chunks(60), k=st.integers(1, 40))
def test_tied_scores_go_to_the_lowest_global_position_across_chunks(chunks, k):
    X, y = digits()
    # A stump has two leaves: the 60 pool rows share two or three margins.
    learner = ActiveLearningClassifier(
        DecisionTreeClassifier(max_depth=1, random_state=0), query_strategy="margin"
    ).fit(X[:40], y[:40])
    X_pool = np.vstack([X[300:330], X[300:330]])
    scores = learner.query_strategy_.score(learner, X_pool)
    assert len(np.unique(scores)) <= 3
    picks, picked_scores = learner.query(as_dask(X_pool, chunks), n_instances=k, return_scores=True)
    # The k highest scores; at the lowest of them, the lowest positions that have it.
    kth = np.sort(scores)[::-1][k - 1]
    above = np.flatnonzero(scores > kth)
    tied = np.flatnonzero(scores == kth)[: k - len(above)]
    assert_array_equal(np.sort(picks), np.sort(np.concatenate([above, tied])))
    assert_array_equal(picked_scores, scores[picks])
    assert_array_equal(picks, learner.query(X_pool, n_instances=k))


@settings(max_examples=15, deadline=None)
@given(chunks=row_chunks(N_POOL), k=st.integers(1, 12))
def test_blas_rounding_moves_picks_only_between_rows_tied_to_1e_12(chunks, k):
    """Logistic regression scores a row with a matrix product whose last bit can depend on
    the block it is in: picks may differ from the in-memory ones, but only between rows whose
    in-memory scores are equal to 1e-12, and the returned scores are those to 1e-12."""
    for name, learner in [
        ("margin", fitted_lr("margin")),
        ("expected_gradient_length", fitted_lr("expected_gradient_length")),
        *((name, fitted(name)) for name in sorted(TO_ROUNDING)),
    ]:
        assert learner.query_strategy_.scores_rows_independently(learner)
        X = pool()
        full_idx, full_scores = learner.query(X, n_instances=N_POOL, return_scores=True)
        scores = np.empty(N_POOL)
        scores[full_idx] = full_scores
        picks, picked = learner.query(as_dask(X, chunks), n_instances=k, return_scores=True)
        assert len(set(picks.tolist())) == k
        tol = dict(rtol=1e-12, atol=1e-12)
        assert_allclose(scores[picks], full_scores[:k], **tol, err_msg=name)
        assert_allclose(picked, full_scores[:k], **tol, err_msg=name)


# -- set-based strategies: two stages ---------------------------------------------------------


def _set_learner(name):
    return fitted(name) or fitted_lr(name)


@pytest.mark.parametrize("name", SET_BASED)
@settings(max_examples=3, deadline=None)
@given(chunks=row_chunks(N_POOL, max_chunks=5), k=st.integers(1, 8))
def test_set_based_picks_are_distinct_valid_and_seeded(name, chunks, k):
    learner = _set_learner(name)
    X_pool = as_dask(pool(), chunks)
    picks = learner.query(X_pool, n_instances=k)
    assert picks.dtype == np.intp and picks.shape == (k,)
    assert len(set(picks.tolist())) == k and 0 <= picks.min() and picks.max() < N_POOL
    assert_array_equal(learner.query(X_pool, n_instances=k), picks)


@pytest.mark.parametrize("name", SET_BASED)
def test_set_based_picks_in_one_chunk_are_the_in_memory_picks(name):
    learner = _set_learner(name)
    assert_array_equal(
        learner.query(as_dask(pool(), (N_POOL,)), n_instances=K),
        learner.query(pool(), n_instances=K),
    )


def covering_radius(X, centres):
    """max over rows of ``X`` of the distance to the nearest centre, in row blocks."""
    out = 0.0
    for start in range(0, len(X), 256):
        block = X[start : start + 256]
        d2 = (block**2).sum(1)[:, None] - 2 * block @ centres.T + (centres**2).sum(1)[None, :]
        out = max(out, float(np.sqrt(max(d2.min(1).max(), 0.0))))
    return out


@functools.cache
def coreset_learner(seed):
    X, y = digits()
    rows = np.random.RandomState(seed).choice(len(X), 20, replace=False)
    return ActiveLearningClassifier(GaussianNB(), query_strategy="coreset").fit(X[rows], y[rows])


@settings(max_examples=20, deadline=None)
@given(chunks=row_chunks(300, max_chunks=30), k=st.integers(1, 25), seed=st.integers(0, 3))
def test_coreset_covers_the_pool_within_4x_the_exact_greedy(chunks, k, seed):
    learner = coreset_learner(seed)
    X = digits()[0][500:800]
    exact = learner.query(X, n_instances=k)
    picks = learner.query(as_dask(X, chunks), n_instances=k)
    assert len(set(picks.tolist())) == k
    r_exact = covering_radius(X, np.vstack([learner.X_labeled_, X[exact]]))
    r_dask = covering_radius(X, np.vstack([learner.X_labeled_, X[picks]]))
    assert r_dask <= 4 * r_exact + 1e-9
    if len(chunks) == 1:
        assert_array_equal(picks, exact)


# -- inputs -----------------------------------------------------------------------------------


def test_a_dataframe_of_numeric_columns_and_feature_chunks_give_the_array_picks():
    learner = fitted("margin")
    X = pool()
    expected = learner.query(X, n_instances=K)
    frame = dd.from_pandas(pd.DataFrame(X, columns=[f"f{i}" for i in range(64)]), npartitions=5)
    assert_array_equal(learner.query(frame, n_instances=K), expected)
    mixed = pd.DataFrame(X).astype({0: np.float32, 1: np.int64, 2: bool})
    mixed[[0, 1, 2]] = 0
    expected_mixed = learner.query(mixed.to_numpy(np.float64), n_instances=K)
    assert_array_equal(
        learner.query(dd.from_pandas(mixed, npartitions=3), n_instances=K), expected_mixed
    )
    split = da.from_array(X, chunks=((10, 38), (7, 50, 7)))
    assert_array_equal(learner.query(split, n_instances=K), expected)
    # Chunks of no rows (empty partitions of a filtered frame) are skipped.
    empty_chunks = da.from_array(X, chunks=((0, 20, 0, 28, 0), 64))
    assert_array_equal(learner.query(empty_chunks, n_instances=K), expected)
    coreset = fitted("coreset")
    assert_array_equal(
        coreset.query(empty_chunks, n_instances=K),
        coreset.query(da.from_array(X, chunks=((20, 28), 64)), n_instances=K),
    )
    # One block with rows, after empty ones: the in-memory picks, at their global positions.
    one_block = da.from_array(X, chunks=((0, 0, 48), 64))
    assert_array_equal(coreset.query(one_block, n_instances=K), coreset.query(X, n_instances=K))


def _bad_inputs():
    X = pool()
    unknown = da.from_array(X, chunks=(12, 64))
    unknown = unknown[unknown[:, 0] >= 0]
    strings = da.from_array(np.full((4, 64), "a"), chunks=(2, 64))
    objects = da.from_array(np.full((4, 64), None, dtype=object), chunks=(2, 64))
    with_text = dd.from_pandas(pd.DataFrame(X).assign(text="x"), npartitions=2)
    series = dd.from_pandas(pd.Series(X[:, 0]), npartitions=2)
    ok = as_dask(X, (20, 28))
    return [
        (unknown, {}, ValueError, r"unknown size; call X_pool\.compute_chunk_sizes\(\)"),
        (
            as_dask(X[:, :60], (48,)),
            {},
            ValueError,
            "has 60 features, but the learner was fitted with 64",
        ),
        (strings, {}, TypeError, "X_pool must hold numbers .* got a dask array of <U1"),
        (objects, {}, TypeError, "X_pool must hold numbers .* got a dask array of object"),
        (with_text, {}, TypeError, r"X_pool's columns must be numeric; these are not: \['text'\]"),
        (
            da.from_array(X[:, 0], chunks=10),
            {},
            ValueError,
            r"must be a 2-D dask array .* got 1 dimensions",
        ),
        (
            series,
            {},
            ValueError,
            "X_pool must be 2-D: got a dask Series; use a DataFrame or an array",
        ),
        (as_dask(X[:0], (0,)), {}, ValueError, "X_pool has no rows; a query needs at least one"),
        (ok, {"n_instances": 49}, ValueError, r"between 1 and the pool size \(48\), got 49"),
        (ok, {"n_instances": 0}, ValueError, r"between 1 and the pool size \(48\), got 0"),
        (ok, {"n_instances": 2.0}, TypeError, "n_instances must be an integer, got float 2.0"),
        (ok, {"n_instances": True}, TypeError, "n_instances must be an integer, got bool True"),
    ]


@pytest.mark.parametrize("index", range(12))
def test_bad_pools_are_named_and_leave_the_learner_as_it_was(index):
    X_pool, kwargs, error, match = _bad_inputs()[index]
    learner = fitted("margin")
    before = pickle.dumps(learner)
    with pytest.raises(error, match=match):
        learner.query(X_pool, **kwargs)
    assert pickle.dumps(learner) == before


def test_return_scores_needs_a_ranking_strategy_on_dask_too():
    X, y = digits()
    learner = ActiveLearningClassifier(GaussianNB(), query_strategy="random").fit(X[:40], y[:40])
    before = pickle.dumps(learner)
    with pytest.raises(
        ValueError,
        match=r"return_scores=True needs a ranking strategy .*'random' does not score rows",
    ):
        learner.query(as_dask(pool(), (20, 28)), n_instances=3, return_scores=True)
    assert pickle.dumps(learner) == before


# -- a LocalCluster of two worker processes ------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    )
    client = distributed.Client(cluster)  # the default client; threads elsewhere (see threads)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def on(client):
    """The cluster as scheduler, named by a string: the nanny sends the config to a worker it
    restarts, and a Client object there would not pickle."""
    assert distributed.default_client() is client
    return dask.config.set(scheduler="dask.distributed")


def test_on_the_cluster_picks_are_the_in_memory_ones(client):
    X = pool()
    with on(client):
        for name in ("margin", "bald", "mmc", "committee_variance"):
            learner = fitted(name)
            idx, scores = learner.query(X, n_instances=K, return_scores=True)
            got, got_scores = learner.query(
                as_dask(X, (1, 9, 2, 20, 16)), n_instances=K, return_scores=True
            )
            assert_array_equal(got, idx)
            assert_array_equal(got_scores, scores)
        coreset = fitted("coreset")
        assert_array_equal(
            coreset.query(as_dask(X, (N_POOL,)), n_instances=K), coreset.query(X, n_instances=K)
        )
        picks = coreset.query(as_dask(X, (10, 10, 28)), n_instances=K)
        assert len(set(picks.tolist())) == K
        frame = dd.from_pandas(pd.DataFrame(X), npartitions=4)
        assert_array_equal(
            fitted("margin").query(frame, n_instances=K), fitted("margin").query(X, n_instances=K)
        )


class CountingNB(GaussianNB):
    """Gaussian naive Bayes that, fitted, appends its process id to ``log`` when unpickled."""

    def __init__(self, log=None):
        GaussianNB.__init__(self)  # no zero-argument super: the class travels by value
        self.log = log

    def __setstate__(self, state):
        GaussianNB.__setstate__(self, state)
        if "classes_" in state and self.log:
            with open(self.log, "a") as f:
                f.write(f"{os.getpid()}\n")


def _record_block(block, log):
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {len(block)}\n")
    return block


# Classes and functions the workers unpickle by value (the test module is not importable
# there under pytest's importlib mode): distributed uses cloudpickle for what names __main__.
CountingNB.__module__ = "__main__"
_record_block.__module__ = "__main__"


def test_the_learner_is_sent_once_per_worker_and_the_client_computes_no_block(client, tmp_path):
    X, y = digits()
    unpickled, computed = tmp_path / "unpickled", tmp_path / "computed"
    learner = ActiveLearningClassifier(CountingNB(log=str(unpickled)), query_strategy="margin").fit(
        X[:40], y[:40]
    )
    n_chunks = 12
    with on(client):
        for i in range(2):
            # A name of its own per query: the same keys twice could find the first query's
            # blocks still in the workers' memory (releasing them is asynchronous) and reuse
            # them, which is right for dask but would leave this count short.
            X_pool = as_dask(pool(), (4,) * n_chunks).map_blocks(
                _record_block, str(computed), dtype=np.float64, name=f"record-block-{i}"
            )
            picks = learner.query(X_pool, n_instances=K)
            assert_array_equal(picks, learner.query(pool(), n_instances=K))
    workers = set(client.run(os.getpid).values())
    # (The client's own copies, deep copies made in fit, are not counted.)
    loads = [pid for pid in map(int, unpickled.read_text().split()) if pid != os.getpid()]
    # Each query sends the learner to at most each worker once, not once per chunk.
    assert 1 <= len(loads) <= 2 * len(workers) < 2 * n_chunks
    assert set(loads) <= workers
    # Rows of the pool computed, by process (map_blocks infers its meta on an empty block).
    lines = [line.split() for line in computed.read_text().splitlines()]
    blocks = [pid for pid, n_rows in lines if int(n_rows) > 0]
    assert len(blocks) == 2 * n_chunks
    assert set(map(int, blocks)) <= workers and os.getpid() not in set(map(int, blocks))


class SlowNB(GaussianNB):
    """Gaussian naive Bayes that takes 0.3 s per call to predict_proba."""

    def predict_proba(self, X):
        time.sleep(0.3)
        return GaussianNB.predict_proba(self, X)


SlowNB.__module__ = "__main__"


def test_a_worker_killed_mid_query_is_replaced_and_the_picks_are_the_same(client):
    X, y = digits()
    learner = ActiveLearningClassifier(SlowNB(), query_strategy="margin").fit(X[:40], y[:40])
    expected = learner.query(pool(), n_instances=K)
    before = cloudpickle.dumps(learner)  # SlowNB pickles by value
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    killer = threading.Timer(0.8, os.kill, (pids[victim], signal.SIGKILL))
    started = time.monotonic()
    killer.start()
    try:
        with on(client):
            picks = learner.query(as_dask(pool(), (4,) * 12), n_instances=K)
    finally:
        killer.join()
    assert time.monotonic() - started > 0.8  # the kill came during the query
    assert_array_equal(picks, expected)
    assert cloudpickle.dumps(learner) == before
    client.wait_for_workers(2, timeout=30)
    assert pids[victim] not in set(client.run(os.getpid).values())


def test_adaptive_refuses_a_dask_pool_and_leaves_the_learner_as_it_was():
    # ALBL's importance weights need inclusion probabilities over the whole pool.
    learner = fitted_lr("adaptive")
    before = pickle.dumps(learner)
    with pytest.raises(ValueError, match=r"query strategy 'adaptive' cannot query a Dask pool: its bandit weighs each arm"):
        learner.query(as_dask(pool(), (40, N_POOL - 40)), n_instances=3)
    assert pickle.dumps(learner) == before


def test_a_dataframe_pool_needs_the_fitted_feature_names_in_order():
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X = pool()
    columns = [f"f{i}" for i in range(X.shape[1])]
    learner = ActiveLearningClassifier(
        RandomForestClassifier(n_estimators=5, random_state=0), query_strategy="margin", random_state=0
    ).fit(pd.DataFrame(digits()[0][:40], columns=columns), digits()[1][:40])
    frame = pd.DataFrame(X, columns=columns)
    want = learner.query(frame, n_instances=4)
    assert_array_equal(learner.query(dd.from_pandas(frame, npartitions=3), n_instances=4), want)
    swapped = frame[[columns[1], columns[0], *columns[2:]]]
    before = pickle.dumps(learner)
    with pytest.raises(ValueError, match=r"X_pool's columns must be the feature names the learner was fitted with, in the same order: expected \['f0', 'f1'"):
        learner.query(dd.from_pandas(swapped, npartitions=3), n_instances=4)
    assert pickle.dumps(learner) == before


def test_random_above_the_listed_draw_limit_draws_what_memory_draws():
    # Past 2**20 rows random draws its rows one by one (O(k) on the client), in memory too.
    from activekit._random import LISTED_DRAW_LIMIT

    n = LISTED_DRAW_LIMIT + 5
    X, y = digits()
    learner = ActiveLearningClassifier(query_strategy="random", random_state=4).fit(X[:40, :2], y[:40])
    lazy = da.zeros((n, 2), chunks=(LISTED_DRAW_LIMIT // 2, 2))
    picks = learner.query(lazy, n_instances=50)
    assert_array_equal(picks, learner.query(np.zeros((n, 2)), n_instances=50))
    assert len(set(picks.tolist())) == 50 and picks.max() < n
