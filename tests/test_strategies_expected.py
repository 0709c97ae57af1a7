"""Expected gradient length against finite differences of the per-example log loss."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from sklearn.datasets import load_iris, make_classification
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from activekit import ActiveLearningClassifier
from activekit.strategies import ExpectedGradientLength

# -- expected gradient length --------------------------------------------------------------


def _params(model):
    theta = [model.coef_.ravel()]
    if model.fit_intercept:
        theta.append(np.ravel(model.intercept_))
    return np.concatenate(theta).astype(np.float64)


def _with_params(model, theta):
    model = copy.deepcopy(model)
    n_coef = model.coef_.size
    model.coef_ = theta[:n_coef].reshape(model.coef_.shape)
    if model.fit_intercept:
        model.intercept_ = theta[n_coef:].reshape(np.shape(model.intercept_))
    return model


def per_example_loss(model, x, j):
    """The log loss the model is trained on, for row ``x`` with the label ``classes_[j]``."""
    if isinstance(model, SGDClassifier) and len(model.classes_) > 2:
        # One-vs-rest: the sum of K binary log losses.
        z = model.decision_function(x[None])[0]
        sign = np.where(np.arange(len(z)) == j, 1.0, -1.0)
        return np.logaddexp(0.0, -sign * z).sum()
    if isinstance(model, SGDClassifier):
        z = model.decision_function(x[None])[0]
        return np.logaddexp(0.0, -z if j == 1 else z)
    return -np.log(model.predict_proba(x[None])[0, j])


def egl_finite_differences(model, X, h=1e-6):
    """``sum_y p(y|x) ||grad||`` with the gradient by central differences, one row at a time."""
    theta = _params(model)
    out = []
    for x in X:
        p = model.predict_proba(x[None])[0]
        if len(p) == 2:
            # predict_proba's 1 - p rounds tiny probabilities of the first class to 0.
            z = model.decision_function(x[None])[0]
            p = np.array([expit(-z), expit(z)])
        expected = 0.0
        for j in range(len(model.classes_)):
            grad = np.empty_like(theta)
            for k in range(len(theta)):
                step = np.zeros_like(theta)
                step[k] = h
                up = per_example_loss(_with_params(model, theta + step), x, j)
                down = per_example_loss(_with_params(model, theta - step), x, j)
                grad[k] = (up - down) / (2 * h)
            expected += p[j] * np.linalg.norm(grad)
        out.append(expected)
    return np.array(out)


def _data(n_classes, seed=0):
    X, y = make_classification(
        n_samples=70, n_features=4, n_informative=3, n_redundant=0, n_classes=n_classes,
        n_clusters_per_class=1, class_sep=0.8, random_state=seed,
    )
    return X[:50], y[:50], X[50:58]


LINEAR_MODELS = [
    pytest.param(LogisticRegression(), 2, id="logreg-binary"),
    pytest.param(LogisticRegression(fit_intercept=False), 2, id="logreg-binary-no-intercept"),
    pytest.param(LogisticRegression(), 3, id="logreg-multinomial"),
    pytest.param(LogisticRegression(fit_intercept=False), 3, id="logreg-multinomial-no-intercept"),
    pytest.param(SGDClassifier(loss="log_loss", random_state=0), 2, id="sgd-binary"),
    pytest.param(SGDClassifier(loss="log_loss", random_state=0), 3, id="sgd-ovr"),
    pytest.param(
        SGDClassifier(loss="log_loss", fit_intercept=False, random_state=0), 3,
        id="sgd-ovr-no-intercept",
    ),
]


@pytest.mark.parametrize("estimator, n_classes", LINEAR_MODELS)
def test_egl_matches_finite_differences(estimator, n_classes):
    X, y, pool = _data(n_classes)
    learner = ActiveLearningClassifier(estimator).fit(X, y)
    scores = ExpectedGradientLength().score(learner, pool)
    ref = egl_finite_differences(learner.estimator_, pool)
    assert_allclose(scores, ref, rtol=1e-5)
    assert np.ptp(ref) > 1e-2 * ref.max(), "the rows must be told apart"


def test_egl_binary_closed_form_by_hand():
    """One weight vector: 2 p (1 - p) sqrt(||x||^2 + 1), not the softmax form's sqrt(2) more."""
    X, y, pool = _data(2)
    learner = ActiveLearningClassifier(LogisticRegression()).fit(X, y)
    p = learner.predict_proba(pool)[:, 1]
    want = 2 * p * (1 - p) * np.sqrt((pool**2).sum(1) + 1)
    assert_allclose(ExpectedGradientLength().score(learner, pool), want, rtol=1e-12)


def test_egl_in_a_pipeline_uses_the_transformed_rows():
    X, y, pool = _data(3, seed=2)
    X, pool = X * 10 + 5, pool * 10 + 5
    pipe = make_pipeline(StandardScaler(), PCA(3, random_state=0), LogisticRegression())
    learner = ActiveLearningClassifier(pipe, query_strategy="expected_gradient_length").fit(X, y)
    fitted = learner.estimator_
    ref = egl_finite_differences(fitted[-1], fitted[:-1].transform(pool))
    assert_allclose(ExpectedGradientLength().score(learner, pool), ref, rtol=1e-5)
    idx, scores = learner.query(pool, n_instances=3, return_scores=True)
    assert_array_equal(idx, np.argsort(-ref, kind="stable")[:3])
    assert_allclose(scores, ref[idx], rtol=1e-5)


def test_egl_sparse_rows_match_dense():
    X, y, pool = _data(3)
    dense = ActiveLearningClassifier(LogisticRegression()).fit(X, y)
    sparse = ActiveLearningClassifier(LogisticRegression()).fit(sp.csr_matrix(X), y)
    assert_allclose(
        ExpectedGradientLength().score(sparse, sp.csr_matrix(pool)),
        ExpectedGradientLength().score(dense, pool),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "estimator, what",
    [
        (RandomForestClassifier(n_estimators=3, random_state=0), "got RandomForestClassifier"),
        (SGDClassifier(loss="hinge", random_state=0), r"got SGDClassifier\(loss='hinge'\)"),
        (make_pipeline(StandardScaler(), LinearSVC()), "got a Pipeline ending in LinearSVC"),
    ],
)
def test_egl_other_estimators_are_a_type_error(estimator, what):
    X, y, pool = _data(3)
    learner = ActiveLearningClassifier(estimator).fit(X, y)
    with pytest.raises(TypeError, match=rf"{what}; supported: LogisticRegression \(binary or multinomial\), SGDClassifier\(loss='log_loss'\)"):
        ExpectedGradientLength().score(learner, pool)


def test_simulated_loop_with_a_budget():
    strategy = "expected_gradient_length"
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)

    def run():
        return ActiveLearningClassifier(
            query_strategy=strategy, batch_size=4, n_initial=6, budget=22, random_state=0
        ).fit(X, y)

    learner = run()
    assert len(learner.labeled_indices_) == 22 and len(set(learner.labeled_indices_)) == 22
    assert learner.n_queries_ == 4
    assert_array_equal(learner.labeled_indices_, run().labeled_indices_)
    assert learner.score(X, y) > 0.8
