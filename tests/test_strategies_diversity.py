"""Density and diversity strategies against NumPy references, in embedding spaces, on
degenerate pools, and in the simulated loop."""

import inspect
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from activekit import ActiveLearningClassifier
from activekit._random import draw_seed
from activekit.strategies import (
    ClusterMargin,
    CoreSet,
    InformationDensity,
    KMeansSampling,
    RankedBatch,
    TypiClust,
    get_strategy,
)
from activekit.strategies._embedding import EMBEDDING_DOC
from support import reference as ref

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


def test_information_density_from_a_pool_sum_in_parts(fitted):
    # A pool scored in parts (a Dask pool's chunks): the unit-row sums of the parts, added,
    # give the density of the whole pool, to rounding.
    learner, pool = fitted
    strategy = InformationDensity(beta=2.0)
    assert strategy.scores_rows_independently(learner)
    total = sum(strategy.unit_row_sum(learner, part) for part in np.array_split(pool, [7, 8, 50]))
    parted = strategy.with_pool_sum(total, len(pool))
    assert_allclose(parted.density_of(learner, pool[:30]), strategy.density_of(learner, pool)[:30], rtol=1e-12)
    assert not hasattr(strategy, "pool_unit_sum_")  # the copy carries the sum
    with pytest.raises(ValueError, match=r"needs pool rows of non-zero length .* row 1 of a chunk is all zeros"):
        strategy.unit_row_sum(learner, np.vstack([pool[:1], np.zeros((1, pool.shape[1]))]))
    # knn density, and a transformer still to be fitted on the pool, read the whole pool.
    assert not InformationDensity(density="knn").scores_rows_independently(learner)
    assert not InformationDensity(embedding=PCA(2)).scores_rows_independently(learner)
    assert InformationDensity(embedding=PCA(2).fit(pool)).scores_rows_independently(learner)


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
    seed = draw_seed(np.random.RandomState(0))
    labels = KMeans(6, n_init=1, random_state=seed).fit_predict(pool)
    assert len(set(labels[idx])) == 6
    assert np.all(np.diff(value) <= 0)
    probs = learner.predict_proba(pool)
    top2 = -np.sort(-probs, axis=1)[:, :2]
    margin = 1 - (top2[:, 0] - top2[:, 1])
    for i in idx:  # the most uncertain row of its cluster
        assert margin[i] == pytest.approx(margin[labels == labels[i]].max())


def kmeans_labels(E, n_clusters, random_state):
    """The clustering TypiClust draws: k-means, one init, seeded from ``random_state``."""
    seed = draw_seed(np.random.RandomState(random_state))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicated points
        return KMeans(n_clusters, n_init=1, random_state=seed).fit_predict(E)


def stub_learner(X_labeled, probs=None):
    """What the clustering strategies read of a learner: its labelled rows, and the class
    probabilities of pool row ``i`` (column 0 of the pool holds ``i``)."""
    estimator = None
    if probs is not None:
        estimator = SimpleNamespace(
            predict_proba=lambda X: np.asarray(probs)[np.asarray(X)[:, 0].astype(int)]
        )
    return SimpleNamespace(X_labeled_=X_labeled, n_jobs=None, estimator_=estimator,
                           classes_=np.array([0, 1]))


@pytest.mark.parametrize(
    ("case", "n_instances", "params"),
    [("digits", 8, {}), ("digits", 10, dict(max_clusters=4)), ("digits", 6, dict(n_neighbors=1)),
     ("cold", 7, {}), ("copies", 9, dict(max_clusters=6, n_neighbors=3))],
)
def test_typiclust_matches_the_reference(fitted, case, n_instances, params):
    learner, pool = fitted
    E_lab = learner.X_labeled_
    if case == "cold":  # no labelled rows: the pool alone is clustered
        learner, E_lab = None, np.empty((0, pool.shape[1]))
        pool = pool[:150]
    elif case == "copies":  # exact duplicates: infinite typicalities and clusters of copies
        pool = np.concatenate([np.repeat(pool[:6], 4, axis=0), pool[100:160]])
    strategy = TypiClust(**{"n_neighbors": 5, **params})
    idx, typicality = strategy.rank(learner, pool, n_instances, random_state=3)
    E_all = np.concatenate([E_lab, pool])
    n_clusters = min(len(E_lab) + n_instances, strategy.max_clusters)
    labels = kmeans_labels(E_all, n_clusters, 3)
    want_idx, want_typicality = ref.typiclust(pool, E_lab, labels, n_instances,
                                              strategy.n_neighbors)
    assert_array_equal(idx, want_idx)
    assert_allclose(typicality, want_typicality, rtol=1e-10)
    if case == "copies":
        assert np.isinf(typicality).any()
    if "max_clusters" in params:  # more picks than clusters: some cluster gave two rows
        assert len(set(labels[len(E_lab) + idx])) < n_instances
    assert_array_equal(strategy.rank(learner, pool, n_instances, random_state=3)[0], idx)


def test_typiclust_known_answer():
    # Five blobs 100 apart; each is a centre row and rows at distance 1 to 1.1 from it along
    # orthogonal directions (so at least sqrt(2) from each other): the centre is the most
    # typical row, then the ring row nearest the centre. Pool sizes 50, 20, 35, 10 and 28;
    # blobs A and E hold a labelled row each.
    rng = np.random.RandomState(0)
    dim = 65
    sizes = {"A": 50, "B": 20, "C": 35, "D": 10, "E": 28}
    rows, blob, lab, radii = [], [], [], {}
    for b, (name, size) in enumerate(sizes.items()):
        centre = np.zeros(dim)
        centre[-1] = 100.0 * b
        radii[name] = 1.0 + 0.1 * rng.permutation(size - 1) / size
        ring = np.tile(centre, (size - 1, 1))
        ring[np.arange(size - 1), np.arange(size - 1)] += radii[name]
        rows += [centre, *ring]
        blob += [(name, "centre")] + [(name, i) for i in range(size - 1)]
        if name in "AE":
            labelled = centre.copy()
            labelled[size] = 1.05
            lab.append(labelled)
    order = rng.permutation(len(rows))  # shuffle the pool
    pool = np.asarray(rows)[order]
    blob = [blob[i] for i in order]
    where = {key: i for i, key in enumerate(blob)}
    E_lab = np.asarray(lab)

    strategy = TypiClust(n_neighbors=5, max_clusters=5)
    idx, typicality = strategy.rank(stub_learner(E_lab), pool, 7, random_state=0)
    # Clusters with no labelled or picked row first, largest first (C, B, D); then each has
    # one, and sizes (labelled rows counted: A 51, C 35, E 29, B 20) decide, a cluster
    # dropping back once it gives its second row.
    nearest = {name: int(np.argmin(r)) for name, r in radii.items()}
    want = [("C", "centre"), ("B", "centre"), ("D", "centre"), ("A", "centre"),
            ("C", nearest["C"]), ("E", "centre"), ("B", nearest["B"])]
    assert [blob[i] for i in idx] == want
    assert_array_equal(idx, [where[key] for key in want])
    # The centre of C: mean distance to its 5 nearest, the 5 smallest radii.
    assert typicality[0] == pytest.approx(1 / np.sort(radii["C"])[:5].mean(), rel=1e-12)
    labels = kmeans_labels(np.concatenate([E_lab, pool]), 5, 0)
    assert_array_equal(idx, ref.typiclust(pool, E_lab, labels, 7, 5)[0])


@pytest.mark.parametrize(("pool_kind", "n_instances", "per_pick"),
                         [("digits", 5, 4), ("digits", 12, 3), ("copies", 6, 4)])
def test_cluster_margin_matches_the_reference(fitted, pool_kind, n_instances, per_pick):
    learner, pool = fitted
    if pool_kind == "copies":  # 4 distinct rows, 6 picks: the round-robin comes back
        pool = np.repeat(pool[100:104], 10, axis=0)
    idx, score = ClusterMargin(candidates_per_pick=per_pick).rank(learner, pool, n_instances)
    margin = ref.uncertainty_scores(learner.predict_proba(pool), "margin")
    candidates = ref.top_k(margin, per_pick * n_instances)
    E = pool[candidates]
    n_clusters = min(n_instances, len(np.unique(E, axis=0)))
    labels = AgglomerativeClustering(n_clusters=n_clusters, linkage="average").fit_predict(E)
    want = ref.round_robin(candidates, labels, n_instances)
    assert_array_equal(idx, want)
    assert_allclose(score, margin[idx], atol=1e-12)
    if pool_kind == "copies":  # each distinct candidate before a copy
        assert n_clusters == 3 and len(np.unique(pool[idx[:3]], axis=0)) == 3
        assert len(np.unique(pool[idx], axis=0)) == 3


def test_cluster_margin_known_answer():
    # Candidates (the 12 smallest margins) in four groups far apart, of sizes 5, 3, 3 and 1;
    # the other rows are sure of their class. Visits go by size, the two groups of 3 by their
    # smallest margin; each group gives its smallest margin.
    groups = {  # name: (centre, margins)
        "five": ((0, 0), [0.01, 0.08, 0.09, 0.15, 0.2]),
        "three_a": ((100, 0), [0.05, 0.07, 0.3]),
        "three_b": ((0, 100), [0.06, 0.04, 0.25]),
        "one": ((100, 100), [0.35]),
    }
    rng = np.random.RandomState(1)
    points, margins, names = [], [], []
    for name, (centre, ms) in groups.items():
        for m in ms:
            points.append(np.asarray(centre) + rng.uniform(-1, 1, size=2))
            margins.append(m)
            names.append(name)
    for _ in range(30):  # confident rows, anywhere
        points.append(rng.uniform(-10, 110, size=2))
        margins.append(rng.uniform(0.5, 0.9))
        names.append("sure")
    order = rng.permutation(len(points))
    points, margins = np.asarray(points)[order], np.asarray(margins)[order]
    names = [names[i] for i in order]
    probs = np.column_stack([(1 + margins) / 2, (1 - margins) / 2])
    pool = np.column_stack([np.arange(len(points)), points])
    strategy = ClusterMargin(candidates_per_pick=3, embedding=lambda X: X[:, 1:])
    idx, _ = strategy.rank(stub_learner(pool[:0], probs), pool, 4)
    assert [names[i] for i in idx] == ["one", "three_b", "three_a", "five"]
    assert_allclose(margins[idx], [0.35, 0.04, 0.05, 0.01])

    # Copies: 7 candidates at 3 distinct points (4, 2 and 1 copies), 5 picks. Three clusters;
    # the round-robin goes single, pair, quadruple, then pair and quadruple again.
    points = np.array([[0, 0]] * 4 + [[5, 5]] * 2 + [[9, 0]], dtype=float)
    margins = np.array([0.3, 0.1, 0.2, 0.4, 0.25, 0.15, 0.5])
    probs = np.column_stack([(1 + margins) / 2, (1 - margins) / 2])
    pool = np.column_stack([np.arange(7), points])
    idx, _ = strategy.rank(stub_learner(pool[:0], probs), pool, 5)
    assert idx.tolist() == [6, 5, 1, 4, 2]


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


def test_coreset_with_values_whose_products_and_squares_overflow():
    """Issue 16: finite embeddings whose float32 dot products (or float64 squares) overflow get
    the plain greedy's picks; the rows of X are indices into a table of such embeddings."""
    f32 = np.array([[2e19, 1.9e19], [0, 6e19], [1, 1], [-3e19, -3e19], [-2e19, 1e19]], np.float32)
    f64 = np.array([[1e200], [1e200], [5.0], [0.0], [0.0]])
    X = np.arange(5.0)[:, None]
    learner = ActiveLearningClassifier().fit(X[3:], [0, 1])  # rows 3 and 4 labelled
    for table, k, want in ((f32, 3, [1, 0, 2]), (f64, 2, [0, 2])):
        lookup = lambda A, table=table: table[A[:, 0].astype(int)]  # noqa: E731
        idx = CoreSet(embedding=lookup).select(learner, X[:3], k)
        assert_array_equal(idx, want)
        with np.errstate(over="ignore"):  # the reference meets the same inf distances
            assert_array_equal(idx, greedy_reference(table[:3], table[3:], k))


@pytest.mark.parametrize("name", DISTANCE_STRATEGIES)
def test_the_embedding_parameter_is_documented_from_one_text(name):
    cls = type(get_strategy(name))
    assert "embedding" in inspect.signature(cls).parameters
    assert EMBEDDING_DOC in inspect.cleandoc(cls.__doc__)
