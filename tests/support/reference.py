"""Plain NumPy reference implementations the kernels are checked against."""

import numpy as np


def uncertainty_scores(probs, measure):
    p = np.asarray(probs, dtype=np.float64)
    if measure == "least_confident":
        return 1.0 - p.max(axis=1)
    if measure == "margin":
        top2 = -np.sort(-p, axis=1)[:, :2]
        return 1.0 - (top2[:, 0] - top2[:, 1])
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(p), 0.0)
        return -terms.sum(axis=1)
    raise ValueError(measure)


def top_k(scores, k):
    """Highest first; a stable sort keeps the lower index first among equal scores."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return order[:k]


def assert_valid_top_k(selected, ref_scores, k, rows=None, atol=0.0):
    """``selected`` is a correct top-k of ``ref_scores`` up to ``atol``.

    Exact ties (identical rows when ``rows`` is given, else identical scores) must be broken by
    the lowest index; near-ties within ``atol`` may be broken either way, since the kernels and
    NumPy round differently.
    """
    selected = np.asarray(selected)
    ref = np.asarray(ref_scores, dtype=np.float64)
    assert selected.shape == (k,)
    assert len(np.unique(selected)) == k
    chosen = ref[selected]
    assert np.all(np.diff(chosen) <= atol), "not in descending order of score"
    rest = np.setdiff1d(np.arange(len(ref)), selected)
    if len(rest):
        assert chosen.min() >= ref[rest].max() - atol, "a better row was left out"
    keys = rows if rows is not None else ref[:, None]
    for pos, i in enumerate(selected):
        same = np.flatnonzero(np.all(keys == keys[i], axis=1))
        # Every identical row before i is chosen too, and ranked ahead of i.
        earlier = same[same < i]
        assert np.all(np.isin(earlier, selected[:pos])), f"tie at row {i} not broken by index"


def sq_distances(X, c):
    """Squared Euclidean distances from every row of X to c, in float64, as NumPy sums them."""
    X = np.asarray(X, dtype=np.float64)
    return ((X - np.asarray(c, dtype=np.float64)) ** 2).sum(axis=1)


def kcenter_greedy(X_pool, X_centers, k, first=None):
    """The plain eager farthest-first greedy: one min-distance vector updated after each pick.

    Ties go to the lowest unpicked index; a cold-start first pick is reported at ``inf``.
    """
    X = np.asarray(X_pool, dtype=np.float64)
    md = np.full(len(X), np.inf)
    for c in np.asarray(X_centers, dtype=np.float64):
        md = np.minimum(md, sq_distances(X, c))
    taken = np.zeros(len(X), dtype=bool)
    idx, dist = [], []
    for t in range(k):
        p = first if (t == 0 and first is not None) else int(np.argmax(np.where(taken, -1.0, md)))
        idx.append(p)
        dist.append(np.sqrt(md[p]))
        taken[p] = True
        md = np.minimum(md, sq_distances(X, X[p]))
    return np.array(idx), np.array(dist)


def min_distances(X, C):
    d2 = np.stack([sq_distances(X, c) for c in np.asarray(C, dtype=np.float64)])
    return np.sqrt(d2.min(axis=0)), d2.argmin(axis=0)


def splitmix64(seed):
    """Vigna's SplitMix64, as the Rust k-means++ uses it."""
    mask = (1 << 64) - 1
    state = seed & mask
    while True:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        yield z ^ (z >> 31)


def kmeans_plusplus(X, k, seed):
    """D^2 sampling with the Rust kernel's generator and draw rule (first running sum > u*total)."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    gen = splitmix64(seed)

    def uniform():
        return (next(gen) >> 11) * 2.0**-53

    picks = [min(int(uniform() * n), n - 1)]
    md = np.full(n, np.inf)
    while len(picks) < k:
        md = np.minimum(md, sq_distances(X, X[picks[-1]]))
        pos = np.flatnonzero(md > 0)
        acc = np.cumsum(md[pos])  # sequential, like the kernel's running sum
        total = float(acc[-1]) if len(acc) else 0.0
        u = uniform()
        if total > 0:
            j = int(np.searchsorted(acc, u * total, side="right"))
            picks.append(int(pos[min(j, len(pos) - 1)]))
        else:
            picks.append(int(np.flatnonzero(~np.isin(np.arange(n), picks))[0]))
    return np.array(picks)


def _entropy(p):
    """Entropy along the last axis, natural log, 0 ln 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1)


def committee_scores(probs, measure):
    """Disagreement of an (m, n, c) committee; the mean KL is summed term by term."""
    p = np.asarray(probs, dtype=np.float64)
    mean = p.mean(axis=0)
    if measure == "consensus_entropy":
        return _entropy(mean)
    if measure == "max_disagreement":
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / mean), 0.0).sum(axis=-1)
        return kl.mean(axis=0)
    if measure == "mean_std":
        return p.std(axis=0).mean(axis=-1)
    raise ValueError(measure)


def vote_scores(votes, n_classes, measure):
    """Vote disagreement of an (m, n) array of class indices."""
    v = np.asarray(votes)
    m = v.shape[0]
    counts = np.stack([np.bincount(col, minlength=n_classes) for col in v.T])
    if measure == "vote_entropy":
        return _entropy(counts / m)
    if measure == "variation_ratio":
        return 1.0 - counts.max(axis=1) / m
    raise ValueError(measure)


def typiclust(E_pool, E_lab, labels, n_instances, n_neighbors):
    """TypiClust's picks and typicalities, given the cluster of every row of ``[E_lab; E_pool]``.

    Each pick: among clusters with pool rows not yet taken, the one with the fewest labelled
    or taken rows, then the largest (labelled rows counted), then the lowest label; in it, the
    untaken pool row of highest typicality (lowest row on ties), where typicality is 1 over
    the mean distance to the ``min(n_neighbors, size - 1)`` nearest other rows of the cluster,
    every row counted (``inf`` at mean 0; 1 in a cluster of one row).
    """
    E = np.concatenate([np.asarray(E_lab, float), np.asarray(E_pool, float)])
    labels = np.asarray(labels)
    n_lab = len(E_lab)
    clusters = sorted(set(labels.tolist()))
    size = {c: int(np.sum(labels == c)) for c in clusters}
    count = {c: int(np.sum(labels[:n_lab] == c)) for c in clusters}
    taken = set()
    picks, scores = [], []
    for _ in range(n_instances):
        open_ = [c for c in clusters
                 if any(r >= n_lab and r not in taken for r in np.flatnonzero(labels == c))]
        c = min(open_, key=lambda c: (count[c], -size[c], c))
        members = np.flatnonzero(labels == c)
        k = min(n_neighbors, len(members) - 1)
        if k == 0:
            typicality = np.ones(1)
        else:
            A = E[members]
            D = np.sqrt(((A[:, None, :] - A[None, :, :]) ** 2).sum(axis=-1))
            np.fill_diagonal(D, np.inf)
            mean = np.sort(D, axis=1)[:, :k].mean(axis=1)
            with np.errstate(divide="ignore"):
                typicality = np.where(mean > 0, 1.0 / mean, np.inf)
        best = None
        for j, r in enumerate(members):  # ascending rows: a strict > keeps the lowest on ties
            if r >= n_lab and r not in taken and (best is None or typicality[j] > typicality[best]):
                best = j
        taken.add(int(members[best]))
        count[c] += 1
        picks.append(int(members[best]) - n_lab)
        scores.append(float(typicality[best]))
    return np.array(picks), np.array(scores)


def round_robin(candidates, labels, n_instances):
    """Cluster-margin's picks from ``candidates`` (most uncertain first) and their cluster
    labels: clusters by increasing size, equal sizes by their most uncertain member; one row
    from each cluster a round, most uncertain first."""
    groups = {}
    for rank, label in enumerate(np.asarray(labels).tolist()):
        groups.setdefault(label, []).append(rank)  # ranks ascend: most uncertain first
    ordered = sorted(groups.values(), key=lambda g: (len(g), g[0]))
    picks = []
    for r in range(max(len(g) for g in ordered)):
        picks.extend(g[r] for g in ordered if r < len(g))
    return np.asarray(candidates)[np.array(picks[:n_instances])]


def bald(probs):
    """Mutual information H(mean_t p_t) - mean_t H(p_t) of (T, n, c) posterior samples."""
    p = np.asarray(probs, dtype=np.float64)
    return _entropy(p.mean(axis=0)) - _entropy(p).mean(axis=0)


def multilabel_scores(probs, measure):
    """The multi-label measures of an ``(n, L)`` matrix of per-label probabilities, written as
    NumPy users write them (float64, ``0 ln 0 = 0``)."""
    p = np.asarray(probs, dtype=np.float64)
    if measure in ("mean_entropy", "max_entropy"):
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -(p * np.log(p)) - (1 - p) * np.log1p(-p)
        h = np.nan_to_num(h, nan=0.0)
        return h.mean(axis=1) if measure == "mean_entropy" else h.max(axis=1, initial=0.0)
    if measure == "binary_minimization":
        return -np.abs(p - 0.5).min(axis=1, initial=np.inf)
    loss = np.minimum(p, 1 - p)
    if measure == "max_loss":
        return loss.max(axis=1, initial=0.0)
    if measure == "mean_max_loss":
        return loss.mean(axis=1)
    raise ValueError(measure)
