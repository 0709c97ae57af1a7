"""Multi-label strategies against NumPy references of their papers' formulas, known answers,
hypothesis over shapes, and the probability shapes of scikit-learn's multi-label models."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import make_multilabel_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier

from activekit import ActiveLearningClassifier
from activekit.strategies import _multilabel as ml

STRATEGIES = [
    ml.MeanEntropyMultilabel,
    ml.MaxEntropyMultilabel,
    ml.BinaryMinimization,
    ml.MaxLoss,
    ml.MeanMaxLoss,
    ml.MMC,
    ml.LabelCardinalityInconsistency,
]


def reference(name, p, y_labeled=None):
    """The papers' formulas, written out per row and label."""
    n, L = p.shape
    out = np.empty(n)
    for i in range(n):
        h = [0.0 if q in (0.0, 1.0) else -q * np.log(q) - (1 - q) * np.log(1 - q) for q in p[i]]
        loss = [(1 - (1 if q > 0.5 else -1) * (2 * q - 1)) / 2 for q in p[i]]
        if name == "mean_entropy":
            out[i] = sum(h) / L
        elif name == "max_entropy":
            out[i] = max(h)
        elif name == "binary_minimization":
            out[i] = -min(abs(q - 0.5) for q in p[i])
        elif name == "max_loss":
            out[i] = max(loss)
        elif name == "mean_max_loss":
            out[i] = sum(loss) / L
        elif name == "label_cardinality":
            c = y_labeled.sum() / len(y_labeled)
            out[i] = abs(sum(q > 0.5 for q in p[i]) - c)
    return out


class FixedProba:
    """A fitted stand-in whose predict_proba returns the given matrix."""

    def __init__(self, p):
        self.p = p

    def predict_proba(self, X):
        return self.p


class FakeLearner:
    def __init__(self, p, y_labeled, X_labeled=None):
        self.estimator_ = FixedProba(p)
        self.y_labeled_ = y_labeled
        self.X_labeled_ = X_labeled
        self.n_jobs = None


def y_labeled_for(L):
    y = np.zeros((4, L), dtype=int)
    y[0] = 1
    y[1, 0] = 1
    return y


probabilities = st.integers(2, 6).flatmap(
    lambda L: arrays(
        np.float64,
        st.tuples(st.integers(1, 12), st.just(L)),
        elements=st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.5, 1.0])),
    )
)


@pytest.mark.parametrize("cls", [c for c in STRATEGIES if c is not ml.MMC], ids=lambda c: c.name)
@settings(max_examples=25, deadline=None)
@given(p=probabilities)
def test_scores_match_the_formula(cls, p):
    y = y_labeled_for(p.shape[1])
    scores = cls().score(FakeLearner(p, y), None)
    np.testing.assert_allclose(scores, reference(cls.name, p, y), rtol=1e-12, atol=1e-12)


def test_known_answers():
    p = np.array([[0.5, 0.9, 0.1], [0.2, 0.2, 0.2], [1.0, 0.0, 0.7]])
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [1, 1, 1]])  # 2 labels a row on average
    learner = FakeLearner(p, y)
    h = lambda q: -q * np.log(q) - (1 - q) * np.log(1 - q)  # noqa: E731
    np.testing.assert_allclose(
        ml.MeanEntropyMultilabel().score(learner, None),
        [(np.log(2) + 2 * h(0.1)) / 3, h(0.2), h(0.7) / 3],
    )
    np.testing.assert_allclose(
        ml.MaxEntropyMultilabel().score(learner, None), [np.log(2), h(0.2), h(0.7)]
    )
    np.testing.assert_allclose(ml.BinaryMinimization().score(learner, None), [0.0, -0.3, -0.2])
    np.testing.assert_allclose(ml.MaxLoss().score(learner, None), [0.5, 0.2, 0.3])
    np.testing.assert_allclose(ml.MeanMaxLoss().score(learner, None), [0.7 / 3, 0.2, 0.1])
    # predicted label counts 1, 0, 2 against a mean of 2 labels a row
    np.testing.assert_allclose(ml.LabelCardinalityInconsistency().score(learner, None), [1, 2, 0])
    # selection: the highest score first, ties lowest index first
    assert ml.BinaryMinimization().rank(learner, None, 2)[0].tolist() == [0, 2]


def test_mmc_matches_the_paper():
    """MMC (Yang et al. 2009): a logistic regression on sorted, normalised probabilities
    predicts each row's label count m; the top m labels are +1, the rest -1; the score is
    sum_l (1 - yhat_l f_l) / 2 with f = 2p - 1."""
    rng = np.random.default_rng(0)
    p_lab = rng.uniform(size=(20, 4))
    y_lab = (p_lab > 0.5).astype(int)
    y_lab[0] = 1
    p_pool = rng.uniform(size=(15, 4))
    scores = ml.mmc_scores(p_pool, p_lab, y_lab)

    def features(p):
        s = np.sort(p, axis=1)[:, ::-1]
        return s / s.sum(axis=1, keepdims=True)

    lr = LogisticRegression(max_iter=1000, random_state=0).fit(features(p_lab), y_lab.sum(1))
    m = lr.predict(features(p_pool))
    expected = []
    for i in range(len(p_pool)):
        top = np.argsort(-p_pool[i], kind="stable")[: m[i]]
        yhat = np.array([1.0 if j in top else -1.0 for j in range(4)])
        expected.append(((1 - yhat * (2 * p_pool[i] - 1)) / 2).sum())
    np.testing.assert_allclose(scores, expected)


def test_mmc_with_one_label_count_predicts_it():
    """With every labelled row holding the same number of labels, that is the prediction."""
    p_pool = np.array([[0.9, 0.2, 0.4], [0.1, 0.6, 0.3]])
    y_lab = np.array([[1, 0, 0], [0, 0, 1]])
    # m = 1: row 0 predicts label 0 only; row 1 label 1 only
    f = 2 * p_pool - 1
    yhat = np.array([[1, -1, -1], [-1, 1, -1]])
    np.testing.assert_allclose(
        ml.mmc_scores(p_pool, np.zeros((2, 3)), y_lab), ((1 - yhat * f) / 2).sum(1)
    )


@pytest.fixture(scope="module")
def data():
    return make_multilabel_classification(n_samples=120, n_features=6, n_classes=3, random_state=1)


@pytest.mark.parametrize(
    "estimator",
    [
        None,
        MultiOutputClassifier(LogisticRegression(max_iter=300)),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ],
    ids=["ovr", "multioutput", "forest"],
)
def test_label_probabilities_of_each_model_shape(data, estimator):
    """A list of (n, 2) arrays and an (n, L) matrix give the same P(label present)."""
    X, Y = data
    learner = ActiveLearningClassifier(estimator, query_strategy="random").fit(X[:60], Y[:60])
    p = ml.label_probabilities(learner, X[60:], "mean_entropy")
    assert p.shape == (60, 3)
    raw = learner.estimator_.predict_proba(X[60:])
    expected = np.column_stack([q[:, 1] for q in raw]) if isinstance(raw, list) else raw
    np.testing.assert_allclose(p, expected)


@pytest.mark.parametrize("cls", STRATEGIES, ids=lambda c: c.name)
def test_every_strategy_queries_a_fitted_learner(data, cls):
    X, Y = data
    learner = ActiveLearningClassifier(query_strategy=cls(), random_state=0).fit(X[:40], Y[:40])
    idx, scores = learner.query(X[40:], n_instances=5, return_scores=True)
    assert len(np.unique(idx)) == 5
    assert np.all(np.diff(scores) <= 0)
    np.testing.assert_allclose(scores, cls().score(learner, X[40:])[idx])


@pytest.mark.parametrize("cls", STRATEGIES, ids=lambda c: c.name)
def test_single_label_learner_is_refused(data, cls):
    """At fit, before any training; and at query time, for a learner fitted otherwise."""
    X, Y = data
    match = r"supports targets \['multilabel-indicator'\], not 'binary'"
    with pytest.raises(ValueError, match=match):
        ActiveLearningClassifier(query_strategy=cls()).fit(X, Y[:, 0])
    learner = FakeLearner(np.full((3, 2), 0.5), Y[:4, 0])
    with pytest.raises(ValueError, match=match):
        cls().score(learner, X[:3])


def test_probabilities_out_of_range_are_refused():
    p = np.array([[0.5, 1.5]])
    with pytest.raises(ValueError, match=r"predict_proba row 0 is above 1 \(1\.5\); expected the probability of each label, in \[0, 1\]"):
        ml.MeanEntropyMultilabel().score(FakeLearner(p, y_labeled_for(2)), None)
    with pytest.raises(ValueError, match=r"expected \(n_rows, 3\)"):
        ml.MaxLoss().score(FakeLearner(np.full((2, 2), 0.5), y_labeled_for(3)), None)


def test_one_class_output_gives_a_constant_probability():
    """An output fitted on one class only (a forest's label never present, or always present,
    in its rows) has one probability column: P(present) is 0, or 1."""
    X = np.arange(12.0).reshape(6, 2)
    Y = np.array([[1, 0], [0, 0], [1, 0], [0, 0], [1, 0], [0, 0]])
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)
    learner = FakeLearner(None, np.array([[1, 1], [0, 1]]))
    learner.estimator_ = forest
    p = ml.label_probabilities(learner, X, "mean_entropy")
    np.testing.assert_array_equal(p[:, 1], 0.0)
    forest.fit(X, 1 - Y)  # label 1 always present
    p = ml.label_probabilities(learner, X, "mean_entropy")
    np.testing.assert_array_equal(p[:, 1], 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multilabel_uncertainty_is_the_mean_of_each_labels_measure(dtype):
    # What kmeans and ranked_batch weigh multi-label rows by, from the multi-label kernel.
    rng = np.random.default_rng(0)
    p = np.vstack([rng.random((40, 5)), [[0, 1, 0.5, 0.25, 1e-30]]]).astype(dtype)
    q = p.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = np.nan_to_num(-(q * np.log(q)) - (1 - q) * np.log1p(-q)).mean(axis=1)
    want = {
        "entropy": entropy,
        "least_confident": np.minimum(q, 1 - q).mean(axis=1),
        "margin": (1 - np.abs(2 * q - 1)).mean(axis=1),
    }
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for measure, expected in want.items():
        np.testing.assert_allclose(ml.multilabel_uncertainty(p, measure), expected, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match=r"uncertainty='ratio' is not a measure; valid measures are \['entropy'"):
        ml.multilabel_uncertainty(p, "ratio")
