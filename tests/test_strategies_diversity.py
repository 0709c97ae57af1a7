"""Density and diversity strategies against NumPy references, in embedding spaces, on
degenerate pools, and in the simulated loop."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from activekit import ActiveLearningClassifier
from activekit.strategies import (
    ClusterMargin,
    CoreSet,
    InformationDensity,
    KMeansSampling,
    RankedBatch,
    TypiClust,
)

DISTANCE_STRATEGIES = ["coreset", "ranked_batch", "information_density", "kmeans", "typiclust",
                       "cluster_margin"]


def greedy_reference(E_pool, E_lab, k, first=None):
    """Plain eager k-center greedy in float64: the reference the kernel must match."""
    E_pool = np.asarray(E_pool, dtype=np.float64)
    if len(E_lab):
        d = np.min(((E_pool[:, None, :] - np.asarray(E_lab, float)[None]) ** 2).sum(-1), axis=1)
        picks = []
    else:
        picks = [first]
        d = ((E_pool - E_pool[first]) ** 2).sum(1)
    while len(picks) < k:
        i = int(np.argmax(d))
        picks.append(i)
        d = np.minimum(d, ((E_pool - E_pool[i]) ** 2).sum(1))
    return np.array(picks)


@pytest.fixture(scope="module")
def fitted(digits_module):
    X, y = digits_module
    return ActiveLearningClassifier().fit(X[:60], y[:60]), X[60:400]


@pytest.fixture(scope="module")
def digits_module():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_coreset_matches_the_eager_greedy(fitted):
    learner, pool = fitted
    idx, dist = learner.set_params(query_strategy="coreset").fit(
        learner.X_labeled_, learner.y_labeled_
    ).query(pool, n_instances=25, return_scores=True)
    assert_array_equal(idx, greedy_reference(pool, learner.X_labeled_, 25))
    assert np.all(np.diff(dist) <= 1e-12), "max-min distances never increase"
    ref_first = np.sqrt(((pool[idx[0]] - learner.X_labeled_) ** 2).sum(1).min())
    assert dist[0] == pytest.approx(ref_first)


def test_coreset_cold_start_is_seeded():
    pool = np.random.RandomState(0).normal(size=(200, 5))
    a = CoreSet().select(None, pool, 10, random_state=3)
    b = CoreSet().select(None, pool, 10, random_state=3)
    assert_array_equal(a, b)
    first = np.random.RandomState(3).randint(200)
    assert_array_equal(a, greedy_reference(pool, np.empty((0, 5)), 10, first=first))


def test_coreset_cosine_is_farthest_first_on_the_sphere(fitted):
    learner, pool = fitted
    unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
    idx = CoreSet(metric="cosine").select(learner, pool, 12)
    assert_array_equal(idx, greedy_reference(unit(pool), unit(learner.X_labeled_), 12))


def test_embeddings_pipeline_callable_and_transformer(digits_module):
    X, y = digits_module
    pipe = make_pipeline(StandardScaler(), PCA(8, random_state=0), LogisticRegression())
    learner = ActiveLearningClassifier(pipe, query_strategy="coreset").fit(X[:60], y[:60])
    pool = X[60:300]
    transform = learner.estimator_[:-1].transform
    want = greedy_reference(transform(pool), transform(X[:60]), 10)
    assert_array_equal(learner.query(pool), want)

    plain = ActiveLearningClassifier().fit(X[:60], y[:60])
    half = lambda A: A[:, :32]  # noqa: E731
    assert_array_equal(
        CoreSet(embedding=half).select(plain, pool, 10), greedy_reference(half(pool), X[:60, :32], 10)
    )
    pca = PCA(5, random_state=0)
    fitted_pca = PCA(5, random_state=0).fit(np.concatenate([X[:60], pool]))
    assert_array_equal(
        CoreSet(embedding=pca).select(plain, pool, 10),
        greedy_reference(fitted_pca.transform(pool), fitted_pca.transform(X[:60]), 10),
    )
    assert not hasattr(pca, "components_"), "an unfitted transformer is cloned, not fitted"


def ranked_batch_reference(E_pool, E_lab, u, k, alpha):
    d = np.sqrt(((E_pool[:, None] - E_lab[None]) ** 2).sum(-1)).min(1)
    picks, picked = [], np.zeros(len(E_pool), bool)
    for _ in range(k):
        score = alpha * (1 - 1 / (1 + d)) + (1 - alpha) * u
        score[picked] = -np.inf
        i = int(np.argmax(score))
        picks.append(i)
        picked[i] = True
        d = np.minimum(d, np.sqrt(((E_pool - E_pool[i]) ** 2).sum(1)))
    return np.array(picks)


@pytest.mark.parametrize("alpha", ["auto", 0.3])
def test_ranked_batch_matches_reference(fitted, alpha):
    learner, pool = fitted
    u = 1 - learner.predict_proba(pool).max(1)
    a = len(pool) / (len(pool) + 60) if alpha == "auto" else alpha
    want = ranked_batch_reference(pool, learner.X_labeled_, u, 15, a)
    assert_array_equal(RankedBatch(alpha=alpha).select(learner, pool, 15), want)


def test_information_density_cosine_matches_the_n_by_n_reference(fitted):
    learner, pool = fitted
    unit = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    density = np.clip((unit @ unit.T).mean(1), 0, 1)
    p = learner.predict_proba(pool)
    entropy = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(1)
    strategy = InformationDensity(beta=2.0)
    assert_allclose(strategy.density_of(learner, pool), density, rtol=1e-5)
    assert_allclose(strategy.score(learner, pool), entropy * density**2, rtol=1e-5, atol=1e-9)
    # beta = 0 is plain entropy sampling.
    plain = ActiveLearningClassifier(query_strategy="entropy").fit(
        learner.X_labeled_, learner.y_labeled_
    )
    assert_array_equal(
        InformationDensity(beta=0).select(learner, pool, 8), plain.query(pool, n_instances=8)
    )


def test_information_density_knn_form(fitted):
    learner, pool = fitted
    from scipy.spatial.distance import cdist

    d = cdist(pool, pool)
    np.fill_diagonal(d, np.inf)
    nearest = np.sort(d, axis=1)[:, :5]
    want = (1 / (1 + nearest)).mean(1)
    got = InformationDensity(density="knn", n_neighbors=5).density_of(learner, pool)
    assert_allclose(got, want, rtol=1e-4)


def test_kmeans_takes_one_per_cluster(fitted):
    learner, pool = fitted
    idx, value = KMeansSampling().rank(learner, pool, 6, random_state=0)
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    labels = KMeans(6, n_init=1, random_state=seed).fit_predict(pool)
    assert len(set(labels[idx])) == 6
    assert np.all(np.diff(value) <= 0)
    probs = learner.predict_proba(pool)
    top2 = -np.sort(-probs, axis=1)[:, :2]
    margin = 1 - (top2[:, 0] - top2[:, 1])
    for i in idx:  # the most uncertain row of its cluster
        assert margin[i] == pytest.approx(margin[labels == labels[i]].max())


def test_typiclust_covers_distinct_clusters(fitted):
    learner, pool = fitted
    idx, typicality = TypiClust(n_neighbors=5).rank(learner, pool, 8, random_state=0)
    assert len(set(idx)) == 8
    assert np.all(typicality > 0)
    again = TypiClust(n_neighbors=5).rank(learner, pool, 8, random_state=0)[0]
    assert_array_equal(idx, again)


def test_cluster_margin_draws_from_the_lowest_margins(fitted):
    learner, pool = fitted
    idx, score = ClusterMargin(candidates_per_pick=4).rank(learner, pool, 5)
    probs = learner.predict_proba(pool)
    top2 = -np.sort(-probs, axis=1)[:, :2]
    margin_score = 1 - (top2[:, 0] - top2[:, 1])
    candidates = np.argsort(-margin_score, kind="stable")[:20]
    assert set(idx) <= set(candidates)
    assert_allclose(score, margin_score[idx], atol=1e-12)


@pytest.mark.parametrize("name", DISTANCE_STRATEGIES)
@pytest.mark.parametrize("pool_kind", ["duplicates", "identical"])
def test_degenerate_pools(digits_module, name, pool_kind):
    X, y = digits_module
    learner = ActiveLearningClassifier(query_strategy=name, random_state=0).fit(X[:60], y[:60])
    if pool_kind == "duplicates":
        pool = np.repeat(X[100:104], 10, axis=0)  # 4 distinct rows, asked for 6
    else:
        pool = np.tile(X[100:101], (30, 1))
    idx = learner.query(pool, n_instances=6)
    assert len(np.unique(idx)) == 6
    assert idx.min() >= 0 and idx.max() < len(pool)


@pytest.mark.parametrize("name", DISTANCE_STRATEGIES)
def test_simulation_runs_and_is_deterministic(digits_module, name):
    X, y = digits_module
    X, y = X[:500], y[:500]
    runs = [
        ActiveLearningClassifier(query_strategy=name, budget=40, batch_size=10, random_state=1)
        .fit(X, y).labeled_indices_
        for _ in range(2)
    ]
    assert_array_equal(runs[0], runs[1])
    assert len(np.unique(runs[0])) == 40


@pytest.mark.parametrize("name", DISTANCE_STRATEGIES)
def test_sparse_pool_is_a_clear_type_error(digits_module, name):
    X, y = digits_module
    learner = ActiveLearningClassifier(query_strategy=name).fit(sp.csr_matrix(X[:60]), y[:60])
    with pytest.raises(TypeError, match=r"needs dense features.*densify it"):
        learner.query(sp.csr_matrix(X[60:200]))


def test_bad_embedding(fitted):
    learner, pool = fitted
    with pytest.raises(ValueError, match="'embedding' parameter of CoreSet"):
        CoreSet(embedding=3).select(learner, pool, 2)
    with pytest.raises(ValueError, match="must be a 2-D numeric array"):
        CoreSet(embedding=lambda A: A[:, 0]).select(learner, pool, 2)
