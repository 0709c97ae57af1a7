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
from ._base import OrderedStrategy
from ._committee import _CommitteeStrategy
from ._posterior import _PosteriorSamples

__all__ = ["BALD", "BatchBALD", "MeanSTD", "batch_bald"]

#: Values of the ``(configurations, candidates, classes)`` block of joint probabilities that
#: BatchBALD holds at once (2 MiB of float64: measured as fast as 16 MiB, or faster, and a
#: fixed cost that stays small beside a pool); candidates are taken in chunks that fit.
_BLOCK_VALUES = 1 << 18

_TINY = np.finfo(np.float64).tiny

#: Gains (nats) this close to the best are ties, taken by the lowest row.
_TIE = 1e-10


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
    committee : list of estimators, default=None
        Models whose class probabilities are the posterior samples, each cloned and trained on
        the whole labelled set (a deep ensemble, say); at least 2. ``None`` means ``n_samples``
        MC dropout passes of the learner's estimator when it is a torch module (a skorch net,
        also as a Pipeline's last step), else ``n_members`` bootstrap replicas of it.
    n_members : int, default=5
        Size of the default committee of a non-torch estimator (at least 2): replicas trained
        on bootstrap resamples of the labelled set, with every ``random_state`` parameter set
        to its own seed drawn from the learner's ``random_state``.
    n_samples : int, default=20
        MC dropout passes ``T`` of a torch module (at least 2), with dropout on and everything
        else in eval mode (:func:`activekit.torch.mc_dropout_proba`); their masks are seeded by
        the ``random_state`` that ``select`` receives. A module without a dropout layer is a
        ``ValueError`` at ``fit``: its passes would agree and its BALD be identically zero.

    Attributes
    ----------
    members_ : list of estimators or None
        The trained committee, renewed after every training; ``None`` with MC dropout.
    classes_ : ndarray of shape (n_classes,)
        The labelled set's classes at the last training: the columns of the samples.

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


class MeanSTD(_CommitteeStrategy):
    """Mean standard deviation (Kampffmeyer et al. 2016): choose the rows whose class
    probabilities vary most across posterior samples,

    ``(1/c) sum_j sqrt(mean_t (p_tj - mean_s p_sj)^2)``,

    the population standard deviation over the ``T`` samples of each class's probability,
    averaged over the ``c`` classes. Scored and selected by the Rust committee kernel
    (``mean_std``), which sums the squared deviations from the mean in a second pass.

    Parameters
    ----------
    committee : list of estimators, default=None
        Models whose class probabilities are the posterior samples, each cloned and trained on
        the whole labelled set (a deep ensemble, say); at least 2. ``None`` means ``n_samples``
        MC dropout passes of the learner's estimator when it is a torch module (a skorch net,
        also as a Pipeline's last step), else ``n_members`` bootstrap replicas of it.
    n_members : int, default=5
        Size of the default committee of a non-torch estimator (at least 2): replicas trained
        on bootstrap resamples of the labelled set, with every ``random_state`` parameter set
        to its own seed drawn from the learner's ``random_state``.
    n_samples : int, default=20
        MC dropout passes ``T`` of a torch module (at least 2), with dropout on and everything
        else in eval mode (:func:`activekit.torch.mc_dropout_proba`); their masks are seeded by
        the ``random_state`` that ``select`` receives. A module without a dropout layer is a
        ``ValueError`` at ``fit``: its passes would agree and its BALD be identically zero.

    Attributes
    ----------
    members_ : list of estimators or None
        The trained committee, renewed after every training; ``None`` with MC dropout.
    classes_ : ndarray of shape (n_classes,)
        The labelled set's classes at the last training: the columns of the samples.

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

    def with_each(self, probs):
        """The joint entropy of the batch's labels and each candidate's: ``probs`` is
        ``(T, n_candidates, c)``; candidates are taken in chunks of bounded memory."""
        t, n, c = probs.shape
        m = len(self.mass)
        # H = -sum_a w(a) L(a) - sum_a (w(a) / q'(a)) sum_y s ln s: a product with one vector.
        base = -float(self.weights @ self.scale)
        per_mass = self.weights / self.mass
        step = max(1, _BLOCK_VALUES // (m * c))
        out = np.empty(n)
        for start in range(0, n, step):
            chunk = probs[:, start : start + step, :]
            b = chunk.shape[1]
            s = self.joint @ chunk.reshape(t, b * c)  # T s(a, y), (M, b c)
            s /= t
            # s ln s, with 0 ln 0 = 0 (a class every sample gives 0 leaves s at 0).
            slns = np.maximum(s, _TINY)
            np.log(slns, out=slns)
            slns *= s
            out[start : start + b] = base - (per_mass @ slns).reshape(b, c).sum(axis=1)
        return out


def batch_bald(
    probs, n_instances, *, n_configurations=2000, n_candidates=1000, random_state=None, n_jobs=None
):
    """BatchBALD's greedy batch (Kirsch et al. 2019) over posterior samples.

    Each pick maximises the mutual information between the labels of the batch so far with
    it and the model, ``I(y_1, ..., y_k; w) = H(y_1, ..., y_k) - sum_i mean_t H(p_t(y_i))``;
    its score is the gain over the batch without it, ``I(y_k; w | y_1, ..., y_(k-1))``. The
    first pick is BALD's top row, with its BALD score. The joint entropy is exact while the
    earlier picks' label configurations number at most ``n_configurations``
    (``c^(k-1) <= M``), and estimated from ``M`` configurations drawn from the samples after
    (``M // T`` from each sample, at least one, extended by one drawn label per pick). Memory is
    ``O(T M + T n_candidates c)`` plus a bounded block of candidates, never ``c^k``.

    Parameters
    ----------
    probs : ndarray of shape (n_samples, n_pool, n_classes)
        Class probabilities of every pool row under each posterior sample.
    n_instances : int
        Batch size, ``1 <= n_instances <= n_pool``.
    n_configurations : int, default=2000
        ``M``, the most label configurations held.
    n_candidates : int or None, default=1000
        Only the ``n_candidates`` rows of highest BALD (at least ``n_instances``) are
        candidates; ``None``: every row. A pick's gain is at most its BALD score, so a row left
        out could not have beaten a pick whose gain exceeds every left-out row's BALD.
    random_state : int, RandomState instance or None, default=None
        Draws the configurations once they are sampled.
    n_jobs : int, default=None
        Threads of the BALD kernel.

    Returns
    -------
    indices : ndarray of shape (n_instances,)
        Pool rows in pick order. Equal gains (within 1e-10) go to the lowest row.
    gains : ndarray of shape (n_instances,), float64
        Each pick's estimated mutual-information gain; their sum estimates the batch's.

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
    candidates, bald = _kernels.committee_top_k(probs, "max_disagreement", k, n_jobs=n_jobs)
    rng = check_random_state(random_state)
    P = np.asarray(probs[:, candidates, :], dtype=np.float64)
    conditional = entr(P).sum(axis=2).mean(axis=0)  # mean_t H(p_t(y_x))
    picks, gains = [0], [float(bald[0])]
    log_joint, strata = np.zeros((1, t)), None
    for size in range(1, n_instances):
        last = P[:, picks[-1], :]
        if strata is None and c**size <= n_configurations:
            log_joint = _exact_extend(log_joint, last)
        elif strata is None:  # from now on, sampled configurations
            strata = np.repeat(np.arange(t), max(1, n_configurations // t))
            log_joint = sum(_sampled_log_probs(P[:, a, :], strata, rng) for a in picks)
        else:
            log_joint = log_joint + _sampled_log_probs(last, strata, rng)
        joint = _JointEntropy(log_joint, exact=strata is None)
        gain = joint.with_each(P) - joint.entropy() - conditional
        gain[picks] = -np.inf
        # Equal rows can differ in the last bits of their sums (the matrix product may round
        # columns differently): gains within _TIE of the best count as equal.
        ties = np.flatnonzero(gain >= gain.max() - _TIE)
        pick = int(ties[np.argmin(candidates[ties])])
        picks.append(pick)
        gains.append(float(gain[pick]))
    return np.asarray(candidates[picks], dtype=np.intp), np.asarray(gains)


class BatchBALD(_PosteriorSamples, OrderedStrategy):
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
    committee : list of estimators, default=None
        Models whose class probabilities are the posterior samples, each cloned and trained on
        the whole labelled set (a deep ensemble, say); at least 2. ``None`` means ``n_samples``
        MC dropout passes of the learner's estimator when it is a torch module (a skorch net,
        also as a Pipeline's last step), else ``n_members`` bootstrap replicas of it.
    n_members : int, default=5
        Size of the default committee of a non-torch estimator (at least 2): replicas trained
        on bootstrap resamples of the labelled set, with every ``random_state`` parameter set
        to its own seed drawn from the learner's ``random_state``.
    n_samples : int, default=20
        MC dropout passes ``T`` of a torch module (at least 2), with dropout on and everything
        else in eval mode (:func:`activekit.torch.mc_dropout_proba`); their masks are seeded by
        the ``random_state`` that ``select`` receives. A module without a dropout layer is a
        ``ValueError`` at ``fit``: its passes would agree and its BALD be identically zero.
    n_configurations : int, default=2000
        ``M``: the most label configurations of the batch held, exact or sampled. The cost
        of a pick grows as ``M x n_candidates x c``.
    n_candidates : int or None, default=1000
        Candidates are the ``n_candidates`` rows of highest BALD (at least the batch size),
        found by the Rust kernel; ``None`` makes every pool row a candidate. A pick's gain is
        at most its BALD score (conditioning on more labels cannot add information), so a
        row left out could not have beaten a pick whose gain exceeds the BALD of every row
        left out; on large pools this keeps a batch to seconds.

    Attributes
    ----------
    members_ : list of estimators or None
        The trained committee, renewed after every training; ``None`` with MC dropout.
    classes_ : ndarray of shape (n_classes,)
        The labelled set's classes at the last training: the columns of the samples.

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
    }

    def __init__(
        self,
        committee=None,
        n_members=5,
        n_samples=20,
        n_configurations=2000,
        n_candidates=1000,
    ):
        super().__init__(committee=committee, n_members=n_members, n_samples=n_samples)
        self.n_configurations = n_configurations
        self.n_candidates = n_candidates

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """The batch in pick order, with each pick's estimated gain in mutual information
        (the first pick's is its BALD score)."""
        probs = self.sample_probabilities(learner, X_pool, random_state)
        return batch_bald(
            probs,
            n_instances,
            n_configurations=self.n_configurations,
            n_candidates=self.n_candidates,
            random_state=random_state,
            n_jobs=getattr(learner, "n_jobs", None),
        )
