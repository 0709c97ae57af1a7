"""Every registered strategy on awkward pools: accepted forms, sparse pools, tiny and degenerate
pools, one-class labelled sets, classes that appear late, and models with bad probabilities.

Parametrised over ``get_strategy_names()``, so strategies added later are checked too (with
the estimator and parameters of tests/support/strategy_setup.py). Whenever a query fails, the learner
and the pool must be exactly as before (compared pickled).
"""

import pickle
import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.tree import DecisionTreeClassifier

from activekit.strategies import get_strategy, get_strategy_names
from support.strategy_setup import is_multilabel_only, is_regression_only, make_learner, targets

NAMES = get_strategy_names()


def measures_distances(name):
    """Distance-based strategies take an ``embedding``; ``adaptive`` plays ``coreset``; ``badge``
    measures distances between dense gradient embeddings."""
    return "embedding" in get_strategy(name).get_params() or name in ("adaptive", "badge")


def learner(name, estimator=None):
    return make_learner(name, estimator)


pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:80], y[:80], X[80:200], y[80:200]


@pytest.fixture(scope="module")
def fitted(data):
    return {name: learner(name).fit(data[0], targets(name, data[1])) for name in NAMES}


def snapshot(*objects):
    return pickle.dumps(objects), pickle.dumps(np.random.get_state())  # noqa: NPY002


def check_picks(idx, n_pool, k):
    idx = np.asarray(idx)
    assert idx.shape == (k,) and idx.dtype.kind == "i"
    assert len(np.unique(idx)) == k and 0 <= idx.min() and idx.max() < n_pool


# -- accepted pool forms: the same picks as a C-contiguous float copy, never written to -------


def pool_forms(pool, tmp_path):
    """``(name, pool in that form, the C-contiguous float array it stands for)``."""
    pd = pytest.importorskip("pandas")
    as_int = np.round(pool * 16).astype(np.int64)
    as_bool = pool > 0.5
    wide = np.zeros((2 * len(pool), 2 * pool.shape[1]))
    wide[::2, ::2] = pool
    frozen = pool.copy()
    frozen.setflags(write=False)
    path = tmp_path / "pool.npy"
    np.save(path, pool)
    return [
        ("float32", pool.astype(np.float32), pool.astype(np.float32)),
        ("float16", pool.astype(np.float16), pool.astype(np.float16).astype(np.float64)),
        ("int64", as_int, as_int.astype(np.float64)),
        ("bool", as_bool, as_bool.astype(np.float64)),
        ("big-endian", pool.astype(">f8"), pool),
        ("Fortran-ordered", np.asfortranarray(pool), pool),
        ("strided", wide[::2, ::2], pool),
        ("read-only", frozen, pool),
        ("memory-mapped", np.load(path, mmap_mode="r"), pool),
        ("DataFrame, index 5000..", pd.DataFrame(pool, index=np.arange(5000, 5000 + len(pool))), pool),
        ("list of lists", pool.tolist(), pool),
        ("object array of floats", pool.astype(object), pool),
    ]


@pytest.mark.parametrize("name", NAMES)
def test_pool_forms_give_the_picks_of_a_contiguous_float_copy(fitted, data, name, tmp_path):
    model, wants = fitted[name], {}
    for form, pool, plain in pool_forms(data[2], tmp_path):
        before = pickle.dumps(pool)
        got = model.query(pool, n_instances=5)
        key = (plain.dtype.str, plain.tobytes())
        if key not in wants:
            wants[key] = model.query(np.ascontiguousarray(plain), n_instances=5)
        want = wants[key]
        np.testing.assert_array_equal(got, want, err_msg=f"{name}: {form} pool")
        assert pickle.dumps(pool) == before, f"{name} wrote to the {form} pool"


@pytest.mark.parametrize("name", NAMES)
def test_sparse_pool(fitted, data, name):
    model, pool = fitted[name], data[2]
    csr = sp.csr_matrix(pool)
    if measures_distances(name):
        before = snapshot(model, csr)
        with pytest.raises(TypeError, match=r"needs dense features(, but the pool is a sparse matrix)?"):
            model.query(csr, n_instances=5)
        assert snapshot(model, csr) == before
    else:  # handed to the estimator as it is
        np.testing.assert_array_equal(model.query(csr, n_instances=5), model.query(pool, n_instances=5))


# -- tiny and degenerate pools -------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_one_and_two_row_pools(fitted, data, name):
    model, pool = fitted[name], data[2]
    assert model.query(pool[:1], n_instances=1).tolist() == [0]
    assert sorted(model.query(pool[3:5], n_instances=2).tolist()) == [0, 1]


@pytest.mark.parametrize("name", NAMES)
def test_duplicated_points_and_more_picks_than_distinct_points(fitted, data, name):
    model, pool = fitted[name], data[2]
    repeated = np.repeat(pool[:3], 4, axis=0)  # 3 distinct rows, 12 rows
    picks = model.query(repeated, n_instances=7)
    check_picks(picks, 12, 7)
    np.testing.assert_array_equal(model.query(repeated, n_instances=7), picks)
    if name == "coreset":  # farthest first: the 3 distinct rows before any copy
        assert len({int(i) // 4 for i in picks[:3]}) == 3
    same = np.repeat(pool[:1], 10, axis=0)  # all identical
    check_picks(model.query(same, n_instances=4), 10, 4)


@pytest.mark.parametrize("name", NAMES)
def test_an_all_zero_pool(fitted, name):
    model, zeros = fitted[name], np.zeros((10, 64))
    cosine = name == "information_density"  # the mean cosine similarity of a zero row is undefined
    if cosine:
        before = snapshot(model)
        with pytest.raises(ValueError, match=r"'information_density' with density='cosine' needs pool rows of non-zero length .* use density='knn'"):
            model.query(zeros, n_instances=4)
        assert snapshot(model) == before
    else:
        check_picks(model.query(zeros, n_instances=4), 10, 4)


# -- labelled sets: one class, classes that appear in teach ---------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_a_single_class_labelled_set(data, name):
    X, y, pool, _ = data
    if is_multilabel_only(name):
        # Threes only: the label 'at least 5' is absent from every row, which no model learns.
        model = learner(name, DecisionTreeClassifier(random_state=0))
        with pytest.raises(ValueError, match=r"y has label columns \[1\] that are 0 in every row"):
            model.fit(X[y == 3], targets(name, y[y == 3]))
        assert not hasattr(model, "estimator_")
        return
    model = learner(name, DecisionTreeClassifier(random_state=0)).fit(X[y == 3], y[y == 3])
    before = snapshot(model, pool)
    try:
        picks = model.query(pool, n_instances=3)
    except ValueError as exc:
        # Strategies that need two classes say so, naming the one there is.
        assert "at least 2 classes" in str(exc) and "only the class [3]" in str(exc), str(exc)
        assert snapshot(model, pool) == before
    except TypeError as exc:  # strategies that need another kind of model name it
        assert "query_strategy=" in str(exc) and "DecisionTreeClassifier" in str(exc), str(exc)
        assert snapshot(model, pool) == before
    else:
        check_picks(picks, len(pool), 3)


@pytest.mark.parametrize("name", NAMES)
def test_classes_unseen_in_fit_join_in_teach(data, name):
    if is_regression_only(name):
        pytest.skip(f"{name} is a regression strategy: a regressor has no classes")
    if is_multilabel_only(name):
        pytest.skip(f"{name} is a multi-label strategy: the labels are y's columns, fixed at fit")
    X, y, pool, y_pool = data
    model = learner(name).fit(X[y < 5], y[y < 5])
    assert model.classes_.tolist() == [0, 1, 2, 3, 4]
    model.teach(pool[:60], y_pool[:60])
    assert model.classes_.tolist() == list(range(10))
    # A committee (or any strategy that keeps classes) realigns to the new classes.
    s = model.query_strategy_
    if hasattr(s, "classes_"):
        assert np.asarray(s.classes_).tolist() == list(range(10))
    if hasattr(s, "member_probabilities"):
        assert s.member_probabilities(pool[60:70]).shape[1:] == (10, 10)
    check_picks(model.query(pool[60:], n_instances=3), 60, 3)


# -- models that misbehave, and models that accept NaN -------------------------------------------


class BadProbabilities(ClassifierMixin, BaseEstimator):
    """Logistic regression whose predict_proba spoils one row; counts its calls."""

    calls = 0

    def __init__(self, kind="nan"):
        self.kind = kind

    def fit(self, X, y):
        model = LogisticRegression(max_iter=300)
        self.multilabel_ = np.ndim(y) == 2
        self.model_ = (OneVsRestClassifier(model) if self.multilabel_ else model).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        BadProbabilities.calls += 1
        p = self.model_.predict_proba(X).copy()
        row = min(3, len(p) - 1)
        if self.kind == "nan":
            p[row, 0] = np.nan
        elif self.multilabel_:  # per-label probabilities need not sum to 1, but stay <= 1
            p[row] += 1.0
        else:
            p[row] *= 1.5
        return p


@pytest.mark.parametrize("kind", ["nan", "sum"])
@pytest.mark.parametrize("name", NAMES)
def test_probabilities_with_nan_or_not_summing_to_one(data, name, kind):
    X, y, pool, _ = data
    model = learner(name, BadProbabilities(kind)).fit(X, targets(name, y))
    before = snapshot(model, pool)
    BadProbabilities.calls = 0
    try:
        picks = model.query(pool, n_instances=3)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert snapshot(model, pool) == before
        if BadProbabilities.calls:  # the bad rows were read: the error says which and why
            reason = "contains NaN or inf" if kind == "nan" else r"sums to 1\.49|sums to 1\.5"
            if is_multilabel_only(name):
                reason = "contains NaN or inf" if kind == "nan" else r"is above 1"
            assert re.search(rf"row 3 .*({reason})", message), message
        else:  # refused for another reason (a model kind it cannot use), naming itself
            assert "query_strategy=" in message, message
    else:
        # Only a strategy that never asked for probabilities may answer.
        assert BadProbabilities.calls == 0, f"{name} used NaN or unnormalised probabilities"
        check_picks(picks, len(pool), 3)


@pytest.mark.parametrize("name", NAMES)
def test_nan_pools_with_an_estimator_that_allows_nan(data, name):
    X, y, pool, _ = data
    # Multi-label: a decision tree, which takes NaN and several outputs (boosting takes one).
    allows_nan = (
        DecisionTreeClassifier(random_state=0)
        if is_multilabel_only(name)
        else HistGradientBoostingClassifier(max_iter=5, random_state=0)
    )
    model = learner(name, allows_nan)
    y = targets(name, y)
    assert model.__sklearn_tags__().input_tags.allow_nan  # forwarded from the estimator
    assert not learner(name).__sklearn_tags__().input_tags.allow_nan
    model.fit(np.where(X > 0.9, np.nan, X), y)
    nan_pool = pool.copy()
    nan_pool[2, 5] = np.nan
    before = snapshot(model, nan_pool)
    try:
        picks = model.query(nan_pool, n_instances=3)
    except (ValueError, TypeError) as exc:
        assert snapshot(model, nan_pool) == before
        if measures_distances(name) and name != "badge":  # distances to NaN rows: undefined
            assert "has NaN or inf" in str(exc), str(exc)
        else:
            assert "query_strategy=" in str(exc), str(exc)
    else:
        assert not measures_distances(name)
        check_picks(picks, len(pool), 3)
