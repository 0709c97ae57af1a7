"""Bayesian active learning over posterior samples: BALD (Houlsby et al. 2011; Gal et al.
2017), the mean standard deviation (Kampffmeyer et al. 2016) and BatchBALD (Kirsch et al.
2019).

The samples are ``n_samples`` MC dropout passes of the learner's torch module, or, for any
other estimator, a committee (the estimators given as ``committee``, or ``n_members``
bootstrap replicas of the learner's estimator, retrained after every training); see
``_posterior``. ``variation_ratio`` and the other committee measures read the same samples.
BALD and the mean STD are scored and selected by the Rust committee kernels; BatchBALD's greedy
joint-entropy search runs in NumPy (one matrix product per chunk of candidates and pick).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.special import entr
from sklearn.utils import check_random_state

from .. import _kernels
from .._compat import Interval
from ._base import RankingStrategy
from ._committee import _CommitteeStrategy
from ._common import n_jobs_of
from ._posterior import _PosteriorSamples, posterior_docstring

__all__ = ["BALD", "BatchBALD", "MeanSTD", "batch_bald"]

#: Values of the ``(configurations, candidates, classes)`` block of joint probabilities that
#: BatchBALD holds at once (2 MiB of float64, a fixed cost that stays small beside a pool;
#: docs/strategies.md times it against other sizes); candidates are taken in chunks that fit.
_BLOCK_VALUES = 1 << 18

_TINY = np.finfo(np.float64).tiny

#: Gains (nats) this close to the best are ties, taken by the highest BALD, then the lowest row.
_TIE = 1e-10


@posterior_docstring
class BALD(_CommitteeStrategy):
    """Bayesian Active Learning by Disagreement (Houlsby et al. 2011; Gal et al. 2017): choose
    the rows whose label would tell most about the model, by the mutual information between
    the label and the model's parameters,

    ``I(y; w | x) = H(mean_t p_t) - mean_t H(p_t)``

    over posterior samples ``p_t`` of the row's class distribution (``H``: entropy, natural
    log). It is high where the samples are each confident but disagree, and 0 where they agree,
    however unsure they all are (unlike the predictive entropy ``H(mean_t p_t)``). Scored and
    selected by the Rust committee kernel (``max_disagreement``: over a committee, BALD and max
    disagreement are the same number).

    Parameters
    ----------
    {posterior_parameters}

    Attributes
    ----------
    {posterior_attributes}

    See Also
    --------
    BatchBALD : batches whose labels are jointly informative, not each on its own.
    MeanSTD : the spread of the samples' class probabilities.
    VariationRatio : the share of samples outside the modal vote, over the same samples.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="bald", random_state=0)
    >>> learner = learner.fit(X[::10], y[::10])      # 5 bootstrap logistic regressions
    >>> idx, mi = learner.query(X, n_instances=3, return_scores=True)
    >>> bool(mi[0] >= mi[1] >= mi[2] >= 0)
    True
    """

    name = "bald"
    _measure = "max_disagreement"
    _votes = False


@posterior_docstring
class MeanSTD(_CommitteeStrategy):
    """Mean standard deviation (Kampffmeyer et al. 2016): choose the rows whose class
    probabilities vary most across posterior samples,

    ``(1/c) sum_j sqrt(mean_t (p_tj - mean_s p_sj)^2)``,

    the population standard deviation over the ``T`` samples of each class's probability,
    averaged over the ``c`` classes. Scored and selected by the Rust committee kernel
    (``mean_std``), which sums the squared deviations from the mean in a second pass.

    Parameters
    ----------
    {posterior_parameters}

    Attributes
    ----------
    {posterior_attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy="mean_std", random_state=0)
    >>> idx, std = learner.fit(X[::10], y[::10]).query(X, n_instances=2, return_scores=True)
    >>> bool(0 <= std[1] <= std[0] <= 0.5)
    True
    """

    name = "mean_std"
    _measure = "mean_std"
    _votes = False


# -- BatchBALD ---------------------------------------------------------------------------------


def _exact_extend(log_joint, probs_row):
    """Every configuration of the batch extended by every class of a new row: ``(M, T)`` log
    probabilities under each sample -> ``(M c, T)``, without the configurations that every
    sample gives probability 0."""
    with np.errstate(divide="ignore"):
        log_p = np.log(probs_row.T)  # (c, T)
    out = (log_joint[:, None, :] + log_p[None, :, :]).reshape(-1, log_joint.shape[1])
    return out[np.isfinite(out.max(axis=1))]


def _sampled_log_probs(probs_row, strata, rng):
    """Log probability, under every sample, of one class per configuration drawn from its
    stratum's sample: ``(M, T)``."""
    cdf = np.cumsum(probs_row, axis=1)[strata]  # (M, c)
    u = rng.random_sample(len(strata)) * cdf[:, -1]
    labels = np.minimum((cdf <= u[:, None]).sum(axis=1), probs_row.shape[1] - 1)
    with np.errstate(divide="ignore"):
        return np.log(probs_row[:, labels].T)


class _JointEntropy:
    """The batch's label configurations, as log probabilities under each of the ``T``
    samples (``log_joint``, ``(M, T)``): every configuration (``exact``), or ``M`` drawn from
    the samples' mixture, stratified (``M / T`` from each sample).

    With ``p_t(a)`` a configuration's probability under sample ``t``, ``q(a) = mean_t p_t(a)``
    and a candidate row's class probabilities ``P[t, y]``, the joint entropy of the batch and
    the candidate is ``H = sum_a sum_y -r(a, y) ln r(a, y)`` with ``r(a, y) = mean_t p_t(a)
    P[t, y]`` when every ``a`` is listed, and its importance-sampled estimate ``(1/M) sum_a
    sum_y -(r(a, y) / q(a)) ln r(a, y)`` for ``a`` drawn from ``q`` (Kirsch et al. 2019). Each
    configuration's probabilities are scaled by their largest, ``p_t(a) = e^L(a) J(a, t)``, so
    that long batches do not underflow: ``-r ln r / q`` becomes ``-(s / q') (L + ln s)`` with
    ``s = mean_t J(a, t) P[t, y]`` and ``q' = mean_t J(a, t)``.
    """

    def __init__(self, log_joint, exact):
        self.scale = log_joint.max(axis=1)  # L(a)
        self.joint = np.exp(log_joint - self.scale[:, None])  # J(a, t), at most 1
        self.mass = self.joint.mean(axis=1)  # q'(a) >= 1/T
        if exact:
            self.weights = np.exp(self.scale) * self.mass  # q(a)
        else:
            self.weights = np.full(len(self.mass), 1.0 / len(self.mass))

    def entropy(self):
        """The joint entropy of the batch's labels."""
        return float(self.weights @ (-self.scale - np.log(self.mass)))

    def with_each(self, probs, rows=None):
        """The joint entropy of the batch's labels and each candidate's: ``probs`` is
        ``(T, n, c)``, the candidates its ``rows`` (``None``: every row); candidates are
        taken, in float64, in chunks of bounded memory."""
        t, n, c = probs.shape
        if rows is not None:
            n = len(rows)
        m = len(self.mass)
        # H = -sum_a w(a) L(a) - sum_a (w(a) / q'(a)) sum_y s ln s: a product with one vector.
        base = -float(self.weights @ self.scale)
        per_mass = self.weights / self.mass
        joint = self.joint / t  # one pass over J instead of one over every block of s
        step = max(1, min(n, _BLOCK_VALUES // (m * c)))
        # Two blocks reused by every chunk (not allocated per chunk).
        s_buf, slns_buf = np.empty(m * step * c), np.empty(m * step * c)
        out = np.empty(n)
        for start in range(0, n, step):
            chunk = _rows(probs, rows, start, start + step)
            b = chunk.shape[1]
            s = s_buf[: m * b * c].reshape(m, b * c)
            np.matmul(joint, chunk.reshape(t, b * c), out=s)  # s(a, y), (M, b c)
            # s ln s, with 0 ln 0 = 0 (a class every sample gives 0 leaves s at 0).
            slns = slns_buf[: m * b * c].reshape(m, b * c)
            np.maximum(s, _TINY, out=slns)
            np.log(slns, out=slns)
            slns *= s
            out[start : start + b] = base - (per_mass @ slns).reshape(b, c).sum(axis=1)
        return out


def _rows(probs, rows, start, stop):
    """``probs[:, rows[start:stop], :]`` (``rows=None``: every row) in float64."""
    index = slice(start, stop) if rows is None else rows[start:stop]
    return np.asarray(probs[:, index, :], dtype=np.float64)


def _conditional_entropy(probs, rows):
    """``mean_t H(p_t(y_x))`` of each of ``rows``, in chunks of bounded memory."""
    t, _, c = probs.shape
    step = max(1, _BLOCK_VALUES // (t * c))
    return np.concatenate(
        [
            entr(_rows(probs, rows, start, start + step)).sum(axis=2).mean(axis=0)
            for start in range(0, len(rows), step)
        ]
    )


def _bald_slack(dtype, c):
    """How far the BALD kernel's score of a row may lie from the BALD of its samples (their
    float64 values): the margin kept by the shortlist's bound."""
    eps = np.finfo(np.float32 if dtype == np.float32 else np.float64).eps
    return 8 * eps * c * max(1.0, np.log(c))


def batch_bald(
    probs,
    n_instances,
    *,
    n_configurations=2000,
    n_candidates=1000,
    max_candidates=None,
    random_state=None,
    n_jobs=None,
    return_shortlist=False,
):
    """BatchBALD's greedy batch (Kirsch et al. 2019) over posterior samples.

    Each pick maximises the mutual information between the labels of the batch so far with
    it and the model, ``I(y_1, ..., y_k; w) = H(y_1, ..., y_k) - sum_i mean_t H(p_t(y_i))``;
    its score is the gain over the batch without it, ``I(y_k; w | y_1, ..., y_(k-1))``. The
    first pick is BALD's top row, with its BALD score. The joint entropy is exact while the
    earlier picks' label configurations number at most ``n_configurations``
    (``c^(k-1) <= M``), and estimated from ``M`` configurations drawn from the samples after
    (``M // T`` from each sample, at least one, extended by one drawn label per pick).

    The search runs over a shortlist: at first the ``n_candidates`` rows of highest BALD. A
    row's gain is at most its BALD (the labels are independent given the model, so knowing
    the batch's cannot add to what a row's label tells), so a row left out cannot beat a pick
    whose gain exceeds every left-out row's BALD. After each pick that bound is checked; where
    it fails, the left-out rows whose BALD reaches the best gain join the shortlist, in
    decreasing BALD (at most doubling it at a time, their gains computed against the picks so
    far), and the pick is made again, until the bound holds. The batch is
    thus the greedy over the whole pool, with exact configurations (with sampled ones, the
    bound holds for the true gains, not for every estimate, and is applied to the estimates).
    ``max_candidates`` bounds the widening: a pick made when the shortlist could not widen
    further while the bound still failed is the best of the shortlist, maybe not of the pool,
    and ``return_shortlist`` says which picks those are. Memory is ``O(T M + n_pool)`` plus
    bounded blocks of candidates, never ``c^k`` nor a copy of ``probs``.

    Parameters
    ----------
    probs : ndarray of shape (n_samples, n_pool, n_classes)
        Class probabilities of every pool row under each posterior sample.
    n_instances : int
        Batch size, ``1 <= n_instances <= n_pool``.
    n_configurations : int, default=2000
        ``M``, the most label configurations held.
    n_candidates : int or None, default=1000
        Size of the first shortlist: the rows of highest BALD (at least ``n_instances``),
        widened where the bound above fails; ``None``: every row.
    max_candidates : int or None, default=None
        The most rows the shortlist may widen to (never fewer than the first shortlist:
        ``max_candidates <= n_candidates`` keeps it as it is). ``None``: no bound, the exact
        greedy. Each pick costs time in proportion to its shortlist, so this bounds a batch's
        time to about ``max_candidates / n_candidates`` times that of the first shortlist's.
    random_state : int, RandomState instance or None, default=None
        Draws the configurations once they are sampled.
    n_jobs : int, default=None
        Threads of the BALD kernel.
    return_shortlist : bool, default=False
        Also return how many rows each pick was searched among, and whether the bound held.

    Returns
    -------
    indices : ndarray of shape (n_instances,)
        Pool rows in pick order. Equal gains (within 1e-10) go to the lowest row.
    gains : ndarray of shape (n_instances,), float64
        Each pick's estimated mutual-information gain; their sum estimates the batch's.
    shortlist_sizes : ndarray of shape (n_instances,)
        Only with ``return_shortlist``: the size of the shortlist each pick was chosen from
        (the first pick, BALD's top over the whole pool, reports the first shortlist); it
        grows from the pick where the shortlist had to be widened. Gains that fall towards 0
        widen it towards the whole pool: any row might then gain as much.
    shortlist_exact : ndarray of shape (n_instances,), bool
        Only with ``return_shortlist``: whether the bound held for each pick, so that no row
        left out could have beaten it (the first pick's is ``True``). ``False`` only where
        ``max_candidates`` stopped the widening first: that pick is the best of its
        shortlist, and may differ from the whole pool's greedy, as may the picks after it.

    Examples
    --------
    Four samples; rows 0 and 1 ask the same question (samples 0, 1 against 2, 3), row 2 an
    independent one (samples 0, 2 against 1, 3), less sharply. BALD takes rows 0 and 1;
    BatchBALD sees that row 1 would mostly repeat row 0's answer:

    >>> import numpy as np
    >>> from activekit.strategies._bayesian import batch_bald
    >>> a, b, c, d = [0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.2, 0.8]
    >>> probs = np.array([[a, a, c], [a, a, d], [b, b, c], [b, b, d]])   # (T, n, classes)
    >>> idx, gains = batch_bald(probs, 2)
    >>> idx.tolist(), gains.round(3).tolist()
    ([0, 2], [0.368, 0.193])

    A shortlist of two holds rows 0 and 1; row 1's gain (0.07) is below row 2's BALD (0.193),
    so row 2 joins the search for the second pick:

    >>> idx, gains, sizes, exact = batch_bald(probs, 2, n_candidates=2, return_shortlist=True)
    >>> idx.tolist(), sizes.tolist(), exact.tolist()
    ([0, 2], [2, 3], [True, True])

    With ``max_candidates=2`` the shortlist cannot widen: the second pick is row 1, and the
    result says that the bound did not vouch for it:

    >>> idx, gains, sizes, exact = batch_bald(probs, 2, n_candidates=2, max_candidates=2,
    ...                                       return_shortlist=True)
    >>> idx.tolist(), sizes.tolist(), exact.tolist()
    ([0, 1], [2, 2], [True, False])
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must be a 3-D array (samples, rows, classes), got {probs.shape}")
    t, n, c = probs.shape
    if isinstance(n_instances, bool) or not isinstance(n_instances, Integral):
        raise TypeError(f"n_instances must be an integer, got {n_instances!r}")
    if not 1 <= n_instances <= n:
        raise ValueError(
            f"n_instances must be between 1 and the pool size ({n}), got {n_instances}"
        )
    k = n if n_candidates is None else min(n, max(n_candidates, n_instances))
    limit = n if max_candidates is None else min(n, max(max_candidates, k))
    # One row more than the shortlist: its BALD is the best left out.
    top, bald = _kernels.committee_top_k(probs, "max_disagreement", min(n, k + 1), n_jobs=n_jobs)
    candidates = np.asarray(top[:k], dtype=np.intp)
    cand_bald = np.asarray(bald[:k], dtype=np.float64)  # ties between gains go by BALD
    bald_out = float(bald[k]) if k < n else -np.inf
    slack = _bald_slack(bald.dtype, c)
    left_out, left_bald, next_out = None, None, 0  # the rows left out, once needed
    rng = check_random_state(random_state)
    conditional = _conditional_entropy(probs, candidates)  # mean_t H(p_t(y_x))
    picks, gains, sizes, exact = [0], [float(bald[0])], [k], [True]
    log_joint, strata = np.zeros((1, t)), None
    for size in range(1, n_instances):
        last = _rows(probs, candidates[picks[-1:]], 0, 1)[:, 0, :]
        if strata is None and c**size <= n_configurations:
            log_joint = _exact_extend(log_joint, last)
        elif strata is None:  # from now on, sampled configurations
            strata = np.repeat(np.arange(t), max(1, n_configurations // t))
            log_joint = sum(
                _sampled_log_probs(_rows(probs, candidates[[a]], 0, 1)[:, 0, :], strata, rng)
                for a in picks
            )
        else:
            log_joint = log_joint + _sampled_log_probs(last, strata, rng)
        joint = _JointEntropy(log_joint, exact=strata is None)
        entropy = joint.entropy()
        gain = joint.with_each(probs, candidates) - entropy - conditional
        gain[picks] = -np.inf
        # No row gains more than the model has left to tell: I(y; w | batch) <= H(w | batch)
        # = ln T - I(batch; w).
        cap = np.log(t) - (entropy - conditional[picks].sum())
        held = True
        while gain.max() + _TIE < min(bald_out + slack, cap):
            if len(candidates) >= limit:  # max_candidates reached: the bound is not met
                held = False
                break
            # A row left out might gain more than the best here: add the left-out rows whose
            # BALD could, in decreasing BALD (all of BALD: n floats), at most as many as the
            # shortlist holds at a time (the best gain rises as rows join, and fewer rows can
            # beat it), until none is left that could.
            if left_out is None:
                scores = _kernels.committee_scores(probs, "max_disagreement", n_jobs=n_jobs)
                out = np.ones(n, dtype=bool)
                out[candidates] = False
                left_out = np.flatnonzero(out)
                left_out = left_out[np.lexsort((left_out, -scores[left_out]))]
                left_bald = np.asarray(scores[left_out], dtype=np.float64)
                del scores, out
            reach = gain.max() + _TIE - slack
            stop = next_out + int(np.searchsorted(-left_bald[next_out:], -reach, side="right"))
            add = max(1, min(stop - next_out, len(candidates), limit - len(candidates)))
            new = left_out[next_out : next_out + add]
            cand_bald = np.concatenate([cand_bald, left_bald[next_out : next_out + add]])
            next_out += add
            bald_out = float(left_bald[next_out]) if next_out < len(left_out) else -np.inf
            candidates = np.concatenate([candidates, new])
            conditional = np.concatenate([conditional, _conditional_entropy(probs, new)])
            gain = np.concatenate(
                [gain, joint.with_each(probs, new) - entropy - conditional[-add:]]
            )
        # Gains within _TIE of the best are equal (equal rows can differ in the last bits of
        # their sums): the highest BALD among them, then the lowest row.
        ties = np.flatnonzero(gain >= gain.max() - _TIE)
        pick = int(ties[np.lexsort((candidates[ties], -cand_bald[ties]))[0]])
        picks.append(pick)
        gains.append(float(gain[pick]))
        sizes.append(len(candidates))
        exact.append(held)
    result = (np.asarray(candidates[picks], dtype=np.intp), np.asarray(gains))
    if return_shortlist:
        return (*result, np.asarray(sizes, dtype=np.intp), np.asarray(exact, dtype=bool))
    return result


@posterior_docstring
class BatchBALD(_PosteriorSamples, RankingStrategy):
    """BatchBALD (Kirsch et al. 2019): a batch whose labels are jointly most informative about
    the model, picked greedily.

    BALD's top rows are often near-copies of one question; BatchBALD scores the batch as a
    whole, by the mutual information between all its labels and the model,
    ``I(y_1, ..., y_b; w) = H(y_1, ..., y_b) - sum_i mean_t H(p_t(y_i))``, and adds the row
    that raises it most, given the rows already picked: a row whose answer the batch already
    tells gains nothing. The first pick is BALD's top. The joint entropy of the labels is
    computed from the ``T`` posterior samples: exactly, over every label configuration of the
    earlier picks, while there are at most ``n_configurations`` of them (``c^(k-1) <= M``),
    then estimated from ``M`` configurations drawn from the samples (importance sampling, as
    in Kirsch et al.'s code; ``M // T`` from each sample, at least one, each extended by a
    drawn label at every pick). Memory is ``O(T M)`` plus bounded blocks of candidates, never
    ``n x n`` nor ``c^b``. The picks depend only on the samples and the ``random_state``
    handed to :meth:`select` (which also seeds the MC dropout masks).

    Parameters
    ----------
    {posterior_parameters}
    n_configurations : int, default=2000
        ``M``: the most label configurations of the batch held, exact or sampled. The cost
        of a pick grows as ``M x n_candidates x c``.
    n_candidates : int or None, default=1000
        The search starts on a shortlist of the ``n_candidates`` rows of highest BALD (at
        least the batch size), found by the Rust kernel; ``None`` makes every pool row a
        candidate. A pick's gain is at most its BALD score (the labels are independent given
        the model: knowing the batch's cannot add to what a row's label tells), so a row left
        out cannot beat a pick whose gain exceeds the BALD of every row left out. That bound
        is checked after every pick, and where it fails the shortlist widens, by the rows of
        next highest BALD, until it holds (see :func:`batch_bald`): the batch is the greedy
        over the whole pool, and ``shortlist_sizes_`` says how far the search went. On large
        pools the shortlist keeps a batch to seconds while the gains stay high; gains near 0
        make every row a possible pick, and the search reaches the whole pool (up to
        ``max_candidates``).
    max_candidates : int or None, default=None
        The most rows the shortlist may widen to (at least the first shortlist:
        ``max_candidates <= n_candidates`` never widens it). ``None``, the default, sets no
        bound: the batch is the exact greedy, and costs at worst what a search of every row
        at every pick costs (Kirsch et al.'s own), which is what widening reaches when many
        rows have high BALD and the gains fall below it (at one BLAS thread, 10 picks
        from 20,000 rows x 20 samples, 10 classes: 7 to 8 s, against 0.4 s for the first
        shortlist alone; docs/strategies.md has the command). Where a bound is wanted, a
        pick's time grows with its shortlist, so ``max_candidates = 8 * n_candidates`` keeps
        a batch within about 8 times the first shortlist's. A pick made where the bound
        stopped the widening before the shortlist's condition held is the best of the
        shortlist, not necessarily of the pool: ``shortlist_exact_`` says which. Nothing is
        logged or warned.

    Attributes
    ----------
    {posterior_attributes}
    shortlist_sizes_ : ndarray of shape (n_instances,)
        Set by every :meth:`rank` (and :meth:`select`, so by every query): how many rows
        each pick of the last batch was searched among; above ``n_candidates`` from the pick
        where the shortlist had to widen. Where several threads query one learner at once,
        the query that finishes last sets it.
    shortlist_exact_ : ndarray of shape (n_instances,), bool
        Set with ``shortlist_sizes_``: whether each pick met the shortlist's condition (no
        row left out could have gained more). Always ``True`` without ``max_candidates``;
        ``False`` for a pick where ``max_candidates`` stopped the widening first, and from
        that pick on the batch may differ from the whole pool's greedy.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import BatchBALD
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearningClassifier(query_strategy=BatchBALD(n_members=4),
    ...                                    random_state=0).fit(X[:60] / 16, y[:60])
    >>> idx, gains = learner.query(X[60:] / 16, n_instances=5, return_scores=True)
    >>> idx.shape, bool(gains[0] >= gains[-1])
    ((5,), True)
    """

    name = "batch_bald"

    _parameter_constraints: dict = {  # noqa: RUF012
        **_PosteriorSamples._parameter_constraints,
        "n_configurations": [Interval(Integral, 1, None, closed="left")],
        "n_candidates": [Interval(Integral, 1, None, closed="left"), None],
        "max_candidates": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        committee=None,
        n_members=5,
        n_samples=20,
        n_configurations=2000,
        n_candidates=1000,
        max_candidates=None,
    ):
        super().__init__(committee=committee, n_members=n_members, n_samples=n_samples)
        self.n_configurations = n_configurations
        self.n_candidates = n_candidates
        self.max_candidates = max_candidates

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """The batch in pick order, with each pick's estimated gain in mutual information
        (the first pick's is its BALD score)."""
        probs = self.sample_probabilities(learner, X_pool, random_state)
        indices, gains, self.shortlist_sizes_, self.shortlist_exact_ = batch_bald(
            probs,
            n_instances,
            n_configurations=self.n_configurations,
            n_candidates=self.n_candidates,
            max_candidates=self.max_candidates,
            random_state=random_state,
            n_jobs=n_jobs_of(learner),
            return_shortlist=True,
        )
        return indices, gains
