"""Expected error reduction against a brute-force reference in plain loops, and expected
gradient length against finite differences of the per-example log loss."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from sklearn.base import clone
from sklearn.datasets import load_iris, make_blobs, make_classification
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from activekit import ActiveLearningClassifier
from activekit.strategies import ExpectedErrorReduction, ExpectedGradientLength
from support.reference import assert_valid_top_k

# -- expected error reduction --------------------------------------------------------------


def pool_loss_reference(model, X_eval, loss):
    total = 0.0
    for row in model.predict_proba(X_eval):
        if loss == "log_loss":
            total += -sum(p * np.log(p) for p in row if p > 0)
        else:
            total += 1.0 - max(row)
    return total / len(X_eval)


def eer_reference(estimator, X_lab, y_lab, candidates, X_eval, loss):
    """Roy and McCallum's expected reduction, one refit per (candidate, label), no shortcuts."""
    with threadpool_limits(limits=1, user_api="blas"):  # small fits: fast on one BLAS thread
        return _eer_reference(estimator, X_lab, y_lab, candidates, X_eval, loss)


def _eer_reference(estimator, X_lab, y_lab, candidates, X_eval, loss):
    model = clone(estimator).fit(X_lab, y_lab)
    current = pool_loss_reference(model, X_eval, loss)
    scores = []
    for x in candidates:
        p = model.predict_proba(x[None])[0]
        expected = 0.0
        for j, label in enumerate(model.classes_):
            refit = clone(estimator).fit(np.vstack([X_lab, x]), np.append(y_lab, label))
            expected += p[j] * pool_loss_reference(refit, X_eval, loss)
        scores.append(current - expected)
    return np.array(scores)


@pytest.fixture(scope="module")
def tiny():
    """Three overlapping blobs: 9 labelled rows and a pool of 14."""
    X, y = make_blobs(n_samples=23, centers=3, cluster_std=2.0, n_features=2, random_state=1)
    learner = ActiveLearningClassifier(LogisticRegression(C=0.5)).fit(X[:9], y[:9])
    return learner, X[9:]


@pytest.mark.parametrize("loss", ["log_loss", "zero_one"])
@pytest.mark.parametrize("whole_pool", [None, 10**6])
def test_eer_matches_the_brute_force_reference(tiny, loss, whole_pool):
    learner, pool = tiny
    strategy = ExpectedErrorReduction(loss=loss, n_candidates=whole_pool, n_eval=whole_pool)
    idx, scores = strategy.rank(learner, pool, len(pool), random_state=0)
    ref = eer_reference(learner.estimator, learner.X_labeled_, learner.y_labeled_, pool, pool, loss)
    assert_allclose(scores, ref[idx], rtol=1e-9, atol=1e-12)
    assert_valid_top_k(idx, ref, len(pool), atol=1e-12)
    assert np.ptp(ref) > 1e-3, "the reference must tell the rows apart"


def test_eer_subsamples_candidates_and_evaluation_rows_from_the_seed(tiny):
    learner, pool = tiny
    strategy = ExpectedErrorReduction(n_candidates=5, n_eval=8)
    idx, scores = strategy.rank(learner, pool, 5, random_state=7)
    again = strategy.rank(learner, pool, 5, random_state=7)
    assert_array_equal(idx, again[0])
    assert_array_equal(scores, again[1])
    # Candidates are drawn first, then the evaluation rows, from the same generator.
    rng = np.random.RandomState(7)
    candidates = np.sort(rng.choice(len(pool), 5, replace=False))
    evaluated = np.sort(rng.choice(len(pool), 8, replace=False))
    assert_array_equal(np.sort(idx), candidates)
    ref = eer_reference(
        learner.estimator, learner.X_labeled_, learner.y_labeled_,
        pool[candidates], pool[evaluated], "log_loss",
    )
    assert_allclose(scores, ref[np.searchsorted(candidates, idx)], rtol=1e-9, atol=1e-12)
    other = strategy.rank(learner, pool, 5, random_state=8)[0]
    assert set(other) != set(idx)


def test_eer_more_instances_than_candidates(tiny):
    learner, pool = tiny
    strategy = ExpectedErrorReduction(n_candidates=4, n_eval=None)
    idx, scores = strategy.rank(learner, pool, 9, random_state=3)
    head, _ = strategy.rank(learner, pool, 4, random_state=3)
    assert_array_equal(idx[:4], head), "the candidates come first, in order of score"
    assert np.all(np.isfinite(scores[:4])) and np.all(np.diff(scores[:4]) <= 0)
    assert np.all(np.isnan(scores[4:])), "rows that were not evaluated have no score"
    assert len(np.unique(idx)) == 9 and not set(idx[4:]) & set(idx[:4])
    assert_array_equal(idx, strategy.rank(learner, pool, 9, random_state=3)[0])


def test_eer_n_jobs_does_not_change_results(tiny):
    learner, pool = tiny
    one = ExpectedErrorReduction(n_candidates=8, n_jobs=None).rank(learner, pool, 6, 0)
    two = ExpectedErrorReduction(n_candidates=8, n_jobs=2).rank(learner, pool, 6, 0)
    assert_array_equal(one[0], two[0])
    assert_array_equal(one[1], two[1])


def test_eer_sparse_rows_match_dense(tiny):
    learner, pool = tiny
    X = np.vstack([learner.X_labeled_, pool])
    y = learner.y_labeled_
    sparse = ActiveLearningClassifier(LogisticRegression(C=0.5)).fit(sp.csr_matrix(X[:9]), y)
    strategy = ExpectedErrorReduction(n_candidates=6, n_eval=10)
    dense_idx, dense_scores = strategy.rank(learner, pool, 4, random_state=2)
    sparse_idx, sparse_scores = strategy.rank(sparse, sp.csr_matrix(pool), 4, random_state=2)
    assert_array_equal(dense_idx, sparse_idx)
    assert_allclose(dense_scores, sparse_scores, rtol=1e-6, atol=1e-9)


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


# -- parameters and the loop ---------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_candidates": 0}, r"The 'n_candidates' parameter of ExpectedErrorReduction must be an int in the range \[1, inf\) or None. Got 0 instead"),
        ({"n_eval": -3}, r"The 'n_eval' parameter of ExpectedErrorReduction must be an int in the range \[1, inf\) or None. Got -3 instead"),
        ({"n_candidates": 2.5}, r"'n_candidates' parameter .* Got 2.5 instead"),
        ({"loss": "bogus"}, r"The 'loss' parameter of ExpectedErrorReduction must be a str among \{'(log_loss|zero_one)', '(log_loss|zero_one)'\}. Got 'bogus' instead"),
        ({"n_jobs": 0}, r"The 'n_jobs' parameter of ExpectedErrorReduction must be None or a non-zero int. Got 0 instead"),
        ({"n_jobs": "2"}, r"The 'n_jobs' parameter of ExpectedErrorReduction must be an instance of 'int' or None. Got '2' instead"),
    ],
)
def test_eer_bad_parameters(tiny, params, message):
    fitted, pool = tiny
    learner = ActiveLearningClassifier(query_strategy=ExpectedErrorReduction(**params))
    learner.fit(fitted.X_labeled_, fitted.y_labeled_)
    with pytest.raises(ValueError, match=message):
        learner.query(pool)


def test_eer_needs_predict_proba(tiny):
    learner, pool = tiny
    svc = ActiveLearningClassifier(LinearSVC(), query_strategy="expected_error_reduction")
    svc.fit(learner.X_labeled_, learner.y_labeled_)
    with pytest.raises(TypeError, match="'expected_error_reduction' needs class probabilities, but the estimator LinearSVC has no predict_proba"):
        svc.query(pool)


@pytest.mark.parametrize(
    "strategy",
    [ExpectedErrorReduction(n_candidates=8, n_eval=60), "expected_gradient_length"],
    ids=["eer", "egl"],
)
def test_simulated_loop_with_a_budget(strategy):
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
