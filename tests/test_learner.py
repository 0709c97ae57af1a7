"""The interactive loop: fit, query, teach, delegation, cloning, pickling, pipelines."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from activekit import ActiveLearningClassifier
from activekit.strategies import RandomSampling
from support.reference import assert_valid_top_k
from support.reference import uncertainty_scores as ref_scores


@pytest.fixture
def split(digits):
    X, y = digits
    return X[:100], y[:100], X[100:600], y[100:600]


def test_default_estimator_is_logistic_regression(split):
    X, y, *_ = split
    learner = ActiveLearningClassifier().fit(X, y)
    assert isinstance(learner.estimator_, LogisticRegression)
    assert learner.estimator is None  # __init__ arguments are left as given
    assert_array_equal(learner.classes_, np.arange(10))
    assert learner.n_features_in_ == 64
    assert learner.n_queries_ == 0
    assert_array_equal(learner.X_labeled_, X)


def test_fit_trains_on_all_rows_like_the_inner_estimator(split):
    X, y, X_pool, _ = split
    learner = ActiveLearningClassifier(LogisticRegression(max_iter=500)).fit(X, y)
    plain = LogisticRegression(max_iter=500).fit(X, y)
    assert_array_equal(learner.predict(X_pool), plain.predict(X_pool))
    np.testing.assert_allclose(learner.predict_proba(X_pool), plain.predict_proba(X_pool))
    np.testing.assert_allclose(
        learner.decision_function(X_pool), plain.decision_function(X_pool)
    )
    assert learner.score(X_pool, _) == plain.score(X_pool, _)


def test_minus_one_is_an_ordinary_class(split):
    X, y, X_pool, _ = split
    y_pm = np.where(y < 5, -1, 1)
    learner = ActiveLearningClassifier().fit(X, y_pm)
    assert_array_equal(learner.classes_, [-1, 1])
    assert set(learner.predict(X_pool)) == {-1, 1}


@pytest.mark.parametrize("strategy", ["least_confident", "margin", "entropy"])
def test_query_returns_the_most_uncertain_rows(split, strategy):
    X, y, X_pool, _ = split
    learner = ActiveLearningClassifier(query_strategy=strategy, batch_size=7).fit(X, y)
    idx, scores = learner.query(X_pool, return_scores=True)
    ref = ref_scores(learner.predict_proba(X_pool), strategy)
    assert_valid_top_k(idx, ref, 7, atol=1e-12)
    np.testing.assert_allclose(scores, ref[idx], atol=1e-12)
    assert_array_equal(learner.query(X_pool), idx)


def test_query_never_mutates_the_learner(split):
    X, y, X_pool, _ = split
    learner = ActiveLearningClassifier(query_strategy="random", random_state=3).fit(X, y)
    before = pickle.dumps(learner)
    first = learner.query(X_pool, n_instances=20)
    assert pickle.dumps(learner) == before
    assert_array_equal(learner.query(X_pool, n_instances=20), first)


def test_random_query_depends_only_on_random_state(split):
    X, y, X_pool, _ = split
    a = ActiveLearningClassifier(query_strategy="random", random_state=1).fit(X, y)
    b = ActiveLearningClassifier(query_strategy="random", random_state=2).fit(X, y)
    assert len(set(a.query(X_pool, n_instances=30))) == 30
    assert not np.array_equal(a.query(X_pool, n_instances=30), b.query(X_pool, n_instances=30))


def test_teach_appends_and_retrains(split):
    X, y, X_pool, y_pool = split
    learner = ActiveLearningClassifier(batch_size=5).fit(X, y)
    idx = learner.query(X_pool)
    learner.teach(X_pool[idx], y_pool[idx])
    assert learner.n_queries_ == 1
    assert_array_equal(learner.y_labeled_, np.concatenate([y, y_pool[idx]]))
    refit = LogisticRegression(max_iter=1000).fit(learner.X_labeled_, learner.y_labeled_)
    np.testing.assert_allclose(learner.predict_proba(X_pool), refit.predict_proba(X_pool))


def test_teach_grows_classes(split):
    X, y, X_pool, y_pool = split
    keep = y < 5
    learner = ActiveLearningClassifier().fit(X[keep], y[keep])
    assert_array_equal(learner.classes_, np.arange(5))
    learner.teach(X_pool[:100], y_pool[:100])
    assert_array_equal(learner.classes_, np.arange(10))
    assert learner.predict_proba(X_pool).shape == (500, 10)


def test_refit_resets_the_labelled_set(split):
    X, y, X_pool, y_pool = split
    learner = ActiveLearningClassifier().fit(X, y)
    learner.teach(X_pool[:10], y_pool[:10])
    learner.fit(X[:50], y[:50])
    assert len(learner.y_labeled_) == 50
    assert learner.n_queries_ == 0


def test_available_if_follows_the_estimator(split):
    X, y, *_ = split
    assert hasattr(ActiveLearningClassifier(), "predict_proba")
    assert not hasattr(ActiveLearningClassifier(LinearSVC()), "predict_proba")
    assert hasattr(ActiveLearningClassifier(LinearSVC()), "decision_function")
    learner = ActiveLearningClassifier(SVC()).fit(X, y)
    assert not hasattr(learner, "predict_proba")


def test_wraps_a_pipeline_and_sits_in_one(split):
    X, y, X_pool, y_pool = split
    inner = ActiveLearningClassifier(make_pipeline(StandardScaler(), LogisticRegression()))
    inner.fit(X, y)
    idx = inner.query(X_pool, n_instances=4)
    inner.teach(X_pool[idx], y_pool[idx])
    assert len(inner.y_labeled_) == 104

    outer = Pipeline([("scale", StandardScaler()), ("al", ActiveLearningClassifier())])
    outer.fit(X, y)
    assert outer.score(X_pool, y_pool) > 0.7
    assert outer.named_steps["al"].query(
        outer.named_steps["scale"].transform(X_pool), n_instances=3
    ).shape == (3,)


def test_clone_and_pickle_round_trip(split):
    X, y, X_pool, y_pool = split
    learner = ActiveLearningClassifier(query_strategy="entropy", batch_size=4, random_state=0)
    cloned = clone(learner)
    assert cloned.get_params() == learner.get_params()
    learner.fit(X, y).teach(X_pool[:5], y_pool[:5])
    restored = pickle.loads(pickle.dumps(learner))
    assert_array_equal(restored.query(X_pool), learner.query(X_pool))
    assert_array_equal(restored.predict(X_pool), learner.predict(X_pool))
    assert_array_equal(restored.y_labeled_, learner.y_labeled_)


def test_strategy_object_is_cloned_not_mutated(split):
    from activekit.strategies import EntropySampling

    X, y, *_ = split
    strategy = EntropySampling()
    learner = ActiveLearningClassifier(query_strategy=strategy).fit(X, y)
    assert learner.query_strategy is strategy
    assert learner.query_strategy_ is not strategy
    assert isinstance(learner.query_strategy_, EntropySampling)


def test_n_jobs_does_not_change_results(split):
    X, y, X_pool, _ = split
    one = ActiveLearningClassifier(n_jobs=1).fit(X, y).query(X_pool, n_instances=25)
    two = ActiveLearningClassifier(n_jobs=2).fit(X, y).query(X_pool, n_instances=25)
    assert_array_equal(one, two)


def test_sparse_pool_goes_to_the_estimator(split):
    import scipy.sparse as sp

    X, y, X_pool, y_pool = split
    learner = ActiveLearningClassifier().fit(sp.csr_matrix(X), y)
    dense = ActiveLearningClassifier().fit(X, y)
    assert_array_equal(learner.query(sp.csr_matrix(X_pool)), dense.query(X_pool))
    learner.teach(sp.csr_matrix(X_pool[:3]), y_pool[:3])
    assert learner.X_labeled_.shape == (103, 64)


def test_dataframe_pool_gives_positions_not_labels(split):
    pd = pytest.importorskip("pandas")
    X, y, X_pool, _ = split
    columns = [f"f{i}" for i in range(64)]
    learner = ActiveLearningClassifier().fit(pd.DataFrame(X, columns=columns), y)
    frame = pd.DataFrame(X_pool, columns=columns, index=np.arange(1000, 1500))
    idx = learner.query(frame, n_instances=5)
    assert idx.max() < 500
    assert_array_equal(idx, ActiveLearningClassifier().fit(X, y).query(X_pool, n_instances=5))


class _CountingStrategy(RandomSampling):
    """Records the labelled-set sizes its ``update`` hook saw; fails on request."""

    def __init__(self, fail_at=None):
        self.fail_at = fail_at

    def update(self, learner):
        n = len(learner.y_labeled_)
        if n == self.fail_at:
            raise RuntimeError("update failed")
        # Replaced, not appended in place: the hook's contract.
        self.seen_ = [*getattr(self, "seen_", []), n]
        return self


def test_update_hook_follows_every_training(split):
    X, y, X_pool, y_pool = split
    learner = ActiveLearningClassifier(query_strategy=_CountingStrategy()).fit(X, y)
    learner.teach(X_pool[:3], y_pool[:3])
    assert learner.query_strategy_.seen_ == [len(y), len(y) + 3]

    sim = ActiveLearningClassifier(
        query_strategy=_CountingStrategy(), n_initial=10, batch_size=5, budget=25, random_state=0
    ).fit(X_pool, y_pool)
    assert sim.query_strategy_.seen_ == [10, 15, 20, 25]


def test_failed_update_leaves_the_strategy_as_it_was(split):
    X, y, X_pool, y_pool = split
    learner = ActiveLearningClassifier(query_strategy=_CountingStrategy(fail_at=len(y) + 2))
    learner.fit(X, y)
    before = learner.query_strategy_
    with pytest.raises(RuntimeError, match="update failed"):
        learner.teach(X_pool[:2], y_pool[:2])
    assert learner.query_strategy_ is before
    assert before.seen_ == [len(y)]
    assert len(learner.y_labeled_) == len(y)


def test_simulation_says_to_raise_n_initial_when_the_first_fit_fails(digits):
    """A PCA step with more components than the initial rows: the error names n_initial and
    n_components, chains scikit-learn's, and more initial rows fix it."""
    X, y = digits
    pipe = make_pipeline(PCA(n_components=30), LogisticRegression(max_iter=1000))
    learner = ActiveLearningClassifier(pipe, n_initial=20, budget=50, random_state=0)
    with pytest.raises(ValueError, match="raise n_initial to at least n_components=30, or lower "
                       "n_components to at most 20") as info:
        learner.fit(X, y)
    assert "n_components=30 must be between 0 and min(n_samples, n_features)=20" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    assert str(info.value.__cause__) in str(info.value)
    assert not hasattr(learner, "estimator_")  # nothing half-fitted is left behind
    learner.set_params(n_initial=30).fit(X, y)
    assert len(learner.labeled_indices_) == 50
    assert learner.estimator_[0].n_components_ == 30


@pytest.mark.parametrize(
    ("estimator", "y_of", "message"),
    [
        # More rows would not help: too many components for 64 features, an invalid
        # parameter, a single class in all of y. The estimator's own error comes through.
        ("pca70", None, "n_components=70 must be between 0 and min"),
        (LogisticRegression(C=-1.0), None, "'C' parameter of LogisticRegression must be"),
        (None, lambda y: np.zeros_like(y), "needs samples of at least 2 classes"),
    ],
    ids=["too many components for the features", "invalid parameter", "one class in y"],
)
def test_first_fit_errors_that_n_initial_cannot_fix_pass_through(digits, estimator, y_of, message):
    X, y = digits
    if estimator == "pca70":
        estimator = make_pipeline(PCA(n_components=70), LogisticRegression(max_iter=1000))
    y = y if y_of is None else y_of(y)
    learner = ActiveLearningClassifier(estimator, n_initial=80, budget=100, random_state=0)
    with pytest.raises(ValueError, match=message) as info:
        learner.fit(X, y)
    assert "n_initial" not in str(info.value)
