"""Clusters: k-means sampling, TypiClust (Hacohen et al. 2022) and cluster-margin
(Citovsky et al. 2021)."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from .. import _kernels
from .._compat import Interval, StrOptions
from .._random import draw_seed
from ._base import RankingStrategy
from ._common import ALL_TARGETS, n_jobs_of, predict_proba
from ._embedding import (
    EMBEDDING_CONSTRAINT,
    embed_pool_and_labeled,
    embedding_docstring,
    uncertainty_or_none,
)

__all__ = ["ClusterMargin", "KMeansSampling", "TypiClust"]

# Above this many rows, k-means runs on mini-batches.
_MINIBATCH_ABOVE = 20_000


def _kmeans(E, n_clusters, seed):
    """Cluster labels of ``E``; fewer distinct points than clusters leaves some empty."""
    if len(E) > _MINIBATCH_ABOVE:
        # Large batches and early stopping (docs/strategies.md times it against full k-means).
        model = MiniBatchKMeans(
            n_clusters, n_init=1, batch_size=4096, max_no_improvement=5, random_state=seed
        )
    else:
        model = KMeans(n_clusters, n_init=1, random_state=seed)
    with warnings.catch_warnings():
        # Duplicated points: fewer distinct clusters than asked; handled by the callers.
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = model.fit_predict(E)
    return labels, model.cluster_centers_


def _seed(random_state):
    return int(draw_seed(check_random_state(random_state)))


@embedding_docstring
class KMeansSampling(RankingStrategy):
    """Cluster the pool into as many clusters as rows wanted; take from each cluster its most
    uncertain row (without a model that can say: the row nearest the cluster centre), so the
    batch is spread over the pool.

    Picks are ordered by uncertainty (or closeness to the centre). Clusters left empty by
    duplicated points are made up with the best remaining rows.

    Parameters
    ----------
    uncertainty : {"least_confident", "margin", "entropy"}, default="margin"
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="kmeans", random_state=0)
    >>> learner.fit(X[:40], y[:40]).query(X[40:], n_instances=5).shape
    (5,)
    """

    name = "kmeans"
    _targets = ALL_TARGETS
    _parameter_constraints: dict = {  # noqa: RUF012
        "uncertainty": [StrOptions(set(_kernels.UNCERTAINTY_MEASURES))],
        "embedding": EMBEDDING_CONSTRAINT,
    }

    def __init__(self, uncertainty="margin", embedding=None):
        self.uncertainty = uncertainty
        self.embedding = embedding

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks, most informative first, with their uncertainty (or minus the distance to
        their cluster centre without a model)."""
        self._validate_params()
        E_pool, _ = embed_pool_and_labeled(learner, X_pool, self.embedding, self.name)
        labels, centres = _kmeans(E_pool, n_instances, _seed(random_state))
        value = uncertainty_or_none(learner, X_pool, self.uncertainty)
        if value is None:
            value = -np.linalg.norm(E_pool - centres[labels], axis=1)
        value = np.asarray(value, dtype=np.float64)
        # Best row of each non-empty cluster: sort by (cluster, -value, row) and take firsts.
        order = np.lexsort((np.arange(len(value)), -value, labels))
        firsts = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]
        chosen = list(firsts)
        if len(chosen) < n_instances:
            rest = np.setdiff1d(np.arange(len(value)), chosen)
            extra = rest[np.lexsort((rest, -value[rest]))][: n_instances - len(chosen)]
            chosen.extend(extra)
        chosen = np.asarray(chosen, dtype=np.intp)
        chosen = chosen[np.lexsort((chosen, -value[chosen]))][:n_instances]
        return chosen, value[chosen]


@embedding_docstring
class TypiClust(RankingStrategy):
    """TypiClust (Hacohen et al. 2022): typical rows of the largest uncovered clusters.

    The labelled rows and the pool are clustered by k-means into ``n_labeled + n_instances``
    clusters (at most ``max_clusters`` and the number of rows). Each pick comes from the
    cluster with the fewest labelled or already picked rows, among those with pool rows left;
    of these the largest (its size counts labelled and pool rows), then the lowest cluster
    number. The pick is the cluster's most typical pool row not yet picked, lowest row on
    ties; a row's typicality is the inverse of its mean Euclidean distance to its
    ``min(n_neighbors, size - 1)`` nearest other rows of the cluster, labelled and picked rows
    included (``inf`` when they all lie on it; 1 in a cluster of one row). Meant for the
    low-budget regime, where representative rows beat uncertain ones; it needs no model.
    (The authors' code also drops clusters of at most 5 rows and leaves the labelled rows out
    of the typicality.)

    Parameters
    ----------
    n_neighbors : int, default=20
    max_clusters : int, default=500
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="typiclust", random_state=0)
    >>> learner.fit(X[:20], y[:20]).query(X[20:], n_instances=5).shape
    (5,)
    """

    name = "typiclust"
    _targets = ALL_TARGETS
    _parameter_constraints: dict = {  # noqa: RUF012
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "max_clusters": [Interval(Integral, 1, None, closed="left")],
        "embedding": EMBEDDING_CONSTRAINT,
    }

    def __init__(self, n_neighbors=20, max_clusters=500, embedding=None):
        self.n_neighbors = n_neighbors
        self.max_clusters = max_clusters
        self.embedding = embedding

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks in order, with each pick's typicality."""
        self._validate_params()
        E_pool, E_lab = embed_pool_and_labeled(learner, X_pool, self.embedding, self.name)
        n_pool, n_lab = len(E_pool), len(E_lab)
        E_all = np.concatenate([E_lab.astype(E_pool.dtype), E_pool]) if n_lab else E_pool
        n_clusters = min(n_lab + n_instances, self.max_clusters, len(E_all))
        labels, _ = _kmeans(E_all, n_clusters, _seed(random_state))
        sizes = np.bincount(labels, minlength=n_clusters)
        covered = np.bincount(labels[:n_lab], minlength=n_clusters)
        pool_labels = labels[n_lab:]
        available = np.bincount(pool_labels, minlength=n_clusters)
        picked = np.zeros(n_pool, dtype=bool)
        order, scores = [], []
        n_jobs = n_jobs_of(learner)
        for _ in range(n_instances):
            # Fewest labelled, then largest, then lowest cluster id, among clusters with rows.
            candidates = np.flatnonzero(available > 0)
            c = candidates[np.lexsort((candidates, -sizes[candidates], covered[candidates]))[0]]
            members = np.flatnonzero(labels == c)
            in_pool = members[members >= n_lab] - n_lab
            if len(members) > 1:
                k = min(self.n_neighbors, len(members) - 1)
                _, dist = _kernels.knn(E_all[members], k, n_jobs=n_jobs)
                mean = dist.astype(np.float64).mean(axis=1)
                typicality = np.where(mean > 0, 1.0 / np.maximum(mean, 1e-300), np.inf)
                typicality = typicality[members >= n_lab]
            else:
                typicality = np.ones(1)
            typicality = np.where(picked[in_pool], -np.inf, typicality)
            best = int(np.argmax(typicality))  # first maximum: lowest row on ties
            row = int(in_pool[best])
            order.append(row)
            scores.append(float(typicality[best]))
            picked[row] = True
            covered[c] += 1
            available[c] -= 1
        return np.asarray(order, dtype=np.intp), np.asarray(scores)


@embedding_docstring
class ClusterMargin(RankingStrategy):
    """Cluster-margin (Citovsky et al. 2021): diversity among the most uncertain.

    The ``candidates_per_pick * n_instances`` rows of smallest margin are clustered
    (average-linkage agglomerative clustering into ``n_instances`` clusters, or as many as
    there are distinct candidates when duplicates leave fewer); picks go round-robin over the
    clusters in increasing order of size (equal sizes: the one whose best row has the smaller
    margin first), each cluster giving its rows in increasing order of margin. With ``n_instances``
    clusters each gives one row; a cluster is visited again only when there are fewer.
    Memory is quadratic in the candidates only, never in the pool.

    Two departures from the paper, which clusters the whole pool once (average linkage down
    to a distance threshold) and takes a random row of each cluster: only the candidates are
    clustered, into a number of clusters set by the batch (no threshold to tune, and no
    ``n_pool^2`` distances), and each cluster gives its smallest-margin row (deterministic).

    Parameters
    ----------
    candidates_per_pick : int, default=10
    {embedding_parameter}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="cluster_margin")
    >>> learner.fit(X[:40], y[:40]).query(X[40:], n_instances=6).shape
    (6,)
    """

    name = "cluster_margin"
    _parameter_constraints: dict = {  # noqa: RUF012
        "candidates_per_pick": [Interval(Integral, 1, None, closed="left")],
        "embedding": EMBEDDING_CONSTRAINT,
    }

    def __init__(self, candidates_per_pick=10, embedding=None):
        self.candidates_per_pick = candidates_per_pick
        self.embedding = embedding

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """Picks in order, with each pick's margin score (higher = smaller margin)."""
        self._validate_params()
        probs = predict_proba(learner, X_pool, self.name)
        n_pool = len(probs)
        m = min(n_pool, self.candidates_per_pick * n_instances)
        candidates, margin = _kernels.uncertainty_top_k(probs, "margin", m, n_jobs=learner.n_jobs)
        E_pool, _ = embed_pool_and_labeled(learner, X_pool, self.embedding, self.name)
        E = E_pool[candidates]
        # Fewer distinct candidates than picks (duplicated rows): one cluster per distinct
        # point, so the round-robin takes every distinct point before any copy.
        n_clusters = min(n_instances, len(np.unique(E, axis=0)))
        if n_clusters > 1:
            labels = AgglomerativeClustering(n_clusters=n_clusters, linkage="average").fit_predict(
                E
            )
        else:
            labels = np.zeros(m, dtype=np.intp)
        sizes = np.bincount(labels, minlength=n_clusters)
        # Candidates are in margin order already: each cluster's queue is in that order, and
        # its first member's position is its smallest margin, which orders equal sizes (the
        # clustering's label numbers mean nothing).
        first = np.full(n_clusters, m)
        np.minimum.at(first, labels, np.arange(m))
        queues = [list(np.flatnonzero(labels == c)) for c in np.lexsort((first, sizes))]
        order = []
        while len(order) < n_instances:
            for queue in queues:
                if queue and len(order) < n_instances:
                    order.append(queue.pop(0))
        order = np.asarray(order, dtype=np.intp)
        return candidates[order], margin[order]
