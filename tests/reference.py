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
