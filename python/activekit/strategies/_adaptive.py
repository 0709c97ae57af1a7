"""Adaptive: Active Learning by Learning (Hsu and Lin 2015), an EXP4.P bandit over strategies
rewarded by importance-weighted accuracy."""

from __future__ import annotations

import hashlib
import math
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .._compat import Interval, _num_samples
from .._random import draw_seed
from . import _registry
from ._base import QueryStrategy
from ._common import CLASS_TARGETS, common_targets, strategy_label, updated_copies

__all__ = ["ActiveLearningByLearning", "arm_probabilities", "default_pmin", "exp4p_step"]

#: Rounds assumed when neither ``n_rounds`` nor the learner's budget says (libact's example).
DEFAULT_ROUNDS = 100


def default_pmin(n_arms, n_rounds):
    """EXP4.P's minimum arm probability ``sqrt(ln N / (N T))``, capped at ``1 / N``.

    The cap keeps ``N * pmin <= 1`` (the probabilities a distribution) when ``T < N ln N``.
    """
    return min(math.sqrt(math.log(n_arms) / (n_arms * n_rounds)), 1.0 / n_arms)


def arm_probabilities(log_weights, pmin):
    """EXP4.P's arm distribution ``(1 - N pmin) w / sum(w) + pmin`` from log-weights."""
    w = np.exp(log_weights - log_weights.max())
    return (1.0 - len(w) * pmin) * (w / w.sum()) + pmin


def exp4p_step(log_weights, probabilities, gains, pmin, delta, n_rounds):
    """One EXP4.P weight update, in logs: ``ln w_k += pmin / 2 * (r_k + c / p_k)``, with
    ``c = sqrt(ln(N / delta) / (N T))`` and ``r_k`` the importance-weighted reward estimate
    of arm ``k``; shifted so the largest is 0 (only ratios of weights matter)."""
    n_arms = len(log_weights)
    confidence = math.sqrt(math.log(n_arms / delta) / (n_arms * n_rounds))
    log_weights = log_weights + pmin / 2.0 * (gains + confidence / probabilities)
    return log_weights - log_weights.max()


def _row_keys(X, rows):
    """A digest of each listed row: its non-zero columns and their values as float64, the
    same whether the row is dense or sparse. Lets the strategy recognise, after ``teach``,
    which of the rows it queried came back, without keeping copies of them."""
    keys = []
    if sp.issparse(X):
        part = sp.csr_matrix(X[rows], dtype=np.float64, copy=True)
        part.sum_duplicates()  # sorts the column indices too
        part.eliminate_zeros()
        for i in range(part.shape[0]):
            lo, hi = part.indptr[i], part.indptr[i + 1]
            keys.append(_digest(part.indices[lo:hi], part.data[lo:hi]))
    else:
        for row in np.asarray(X[rows], dtype=np.float64):
            nonzero = np.flatnonzero(row)
            keys.append(_digest(nonzero, row[nonzero]))
    return keys


def _digest(columns, values):
    data = np.asarray(columns, dtype=np.int64).tobytes() + np.asarray(values, np.float64).tobytes()
    return hashlib.blake2b(data, digest_size=16).digest()


def _uniform_draws(n_pool, n_labeled, n_instances, rng):
    """Draw uniformly without replacement from the pool and the labelled rows together until
    ``n_instances`` pool rows are drawn: the pool rows, and the labelled rows drawn on the way
    (positions in the labelled set)."""
    left_pool, left_labeled, n_free = n_pool, n_labeled, 0
    while left_pool > n_pool - n_instances:
        if rng.random_sample() * (left_pool + left_labeled) < left_labeled:
            left_labeled -= 1
            n_free += 1
        else:
            left_pool -= 1
    pool_rows = rng.choice(n_pool, size=n_instances, replace=False).astype(np.intp)
    free_rows = rng.choice(n_labeled, size=n_free, replace=False).astype(np.intp)
    return pool_rows, free_rows


def _checked(indices, n_pool, n_instances, strategy):
    indices = np.asarray(indices)
    name = strategy_label(strategy)
    if (
        indices.shape != (n_instances,)
        or indices.dtype.kind not in "iu"
        or indices.min() < 0
        or indices.max() >= n_pool
        or len(np.unique(indices)) != n_instances
    ):
        raise ValueError(
            f"strategy {name!r} inside 'adaptive' did not return {n_instances} distinct "
            f"positions in 0..{n_pool - 1}"
        )
    return indices.astype(np.intp, copy=False)


class ActiveLearningByLearning(QueryStrategy):
    """Active Learning by Learning (ALBL; Hsu and Lin 2015): a bandit that learns, on the
    data at hand, which of several strategies to trust.

    The arms are the strategies, plus (``uniform_sampler=True``) a uniform sampler. Each
    round, every strategy advises a batch; EXP4.P (Beygelzimer et al. 2011) plays arm ``k``
    with probability ``p_k = (1 - N pmin) w_k / sum(w) + pmin`` and its batch is queried.
    After the model is retrained on the answers, the reward is the importance-weighted
    accuracy (IW-ACC) of the new model ``f_t`` on every row sampled so far,

        ``r_t = 1 / T * sum_tau 1 / n_tau * sum_(j sampled in round tau) [f_t(x_j) = y_j] / pi_j``

    where ``pi_j`` is the probability that round ``tau`` sampled row ``j`` and ``n_tau`` the
    number of rows (pool and labelled) it sampled from: an unbiased estimate, up to the
    factor ``t / T``, of the accuracy of ``f_t``, which rewards the strategies that help the
    model rather than the ones whose picks are merely hard. Arm ``k`` gains
    ``r_t sum_j psi_k(j) / pi_j`` over the queried rows ``j`` (``psi_k`` its advice, below:
    every arm that advised a queried row shares the credit), and
    ``ln w_k += pmin / 2 * (gain_k + sqrt(ln(N / delta) / (N T)) / p_k)`` (EXP4.P, with the
    strategies as both the actions and the experts, as in libact's reference code).

    As in the paper, the uniform sampler draws from the labelled rows as well as the pool, so
    that every row can be sampled and IW-ACC is unbiased: a labelled row it draws costs no
    label (its answer is known) and joins the sample with its weight, and it draws on until it
    has its batch of pool rows. Without the uniform sampler, rows that no strategy would pick
    are never sampled and IW-ACC is biased towards the strategies' picks.

    Batches (the paper queries one row per round): one arm is played per round and its whole
    batch of ``b`` rows is queried; the advice of a strategy is uniform over its batch
    (``psi_k(j) = 1 / b``), that of the uniform sampler uniform over the pool
    (``1 / n_pool``), so a row's inclusion probability is ``pi_j = b sum_k p_k psi_k(j)``:
    ``p_k`` summed over the strategies whose batch holds it, plus ``p_uniform b / n_pool``.
    A labelled row is drawn by the uniform sampler with probability
    ``p_uniform b / (n_pool + 1)``. The weights ``1 / pi_j`` make each round's sum an unbiased
    (Horvitz-Thompson) estimate of the same accuracy that one sequential draw estimates, and
    for ``b = 1`` the gains are libact's ``r_t psi_k(j) / q_j``; the one departure is that
    the uniform sampler's draws of labelled rows join its round (one bandit update per
    training) instead of each being a round of its own.

    The bandit learns in the learner's ``update`` hook, after each training: ``select``
    records on the strategy (attribute ``pending_``) the round's arm, the probabilities and
    a digest of each queried row; the hook finds the taught rows at the end of
    ``learner.X_labeled_``, matches them to the queried ones, computes the reward and replaces
    the bandit's attributes. This is the one thing ``learner.query`` changes: the learner's
    own attributes stay as they were, but its ``query_strategy_.pending_`` holds the last
    query (it pickles with the learner, so a learner saved between ``query`` and ``teach``
    still credits the round). Rows taught that were not queried are training data only;
    queried rows not taught are left out of the reward; a ``teach`` matching none of the
    queried rows (or one without a ``query`` before it) credits no round. A new ``fit``
    starts a new bandit.

    Parameters
    ----------
    strategies : list of (str or QueryStrategy), default=("margin", "coreset")
        The arms: registered names or strategy objects (cloned when resolved). Any strategy
        will do; deterministic ones advise a single batch.
    uniform_sampler : bool, default=True
        Add a uniform random sampler as the last arm (libact's ``uniform_sampler``); it is
        what makes IW-ACC unbiased.
    delta : float > 0, default=0.1
        EXP4.P's confidence parameter: smaller gives a larger exploration bonus.
    pmin : float in (0, 1 / n_arms], default=None
        Smallest probability of an arm. ``None`` is EXP4.P's ``sqrt(ln N / (N T))``, capped
        at ``1 / N`` (``N`` arms, ``T`` rounds).
    n_rounds : int, default=None
        ``T``, the number of rounds expected: it scales the reward and the exploration.
        ``None`` is ``ceil((budget - n_labeled) / batch_size)`` in a simulated ``fit``
        (``n_labeled`` the initial labelled set), else 100. More rounds than ``T`` may be
        played.

    Attributes
    ----------
    strategies_ : list of QueryStrategy
        The resolved strategies, kept up to date through the learner's ``update`` hook.
    arm_names_ : list of str
        Name of each arm; the uniform sampler is ``"uniform"``.
    n_rounds_ : int
        ``T`` in use.
    pmin_ : float
        ``pmin`` in use.
    log_weights_ : ndarray of shape (n_arms,)
        EXP4.P's weights, in logs, shifted so the largest is 0.
    weights_ : ndarray of shape (n_arms,)
        The same weights normalised to sum to one.
    probabilities_ : ndarray of shape (n_arms,)
        Probability of playing each arm in the next round; a distribution, each at least
        ``pmin_``.
    choices_ : ndarray of shape (n_credited_rounds,)
        The arm played in each credited round (an index into ``arm_names_``).
    rewards_ : ndarray of shape (n_credited_rounds,)
        The reward (IW-ACC) each credited round earned.
    probability_history_ : ndarray of shape (n_credited_rounds, n_arms)
        The arm probabilities each credited round was played with.
    sample_indices_ : ndarray of shape (n_samples,)
        Positions in ``learner.X_labeled_`` of the rows IW-ACC is computed on (queried, or
        drawn for free by the uniform sampler), in sampling order.
    sample_weights_ : ndarray of shape (n_samples,)
        Their importance weights ``1 / (n_tau pi_j)``.
    n_labeled_ : int
        Size of the labelled set at the last update.
    pending_ : dict or None
        What the last ``select`` needs credited: set by ``select``, consumed by ``update``.

    References
    ----------
    Hsu, W.-N. and Lin, H.-T. (2015). Active Learning by Learning. AAAI.
    Beygelzimer, A., Langford, J., Li, L., Reyzin, L. and Schapire, R. (2011). Contextual
    bandit algorithms with supervised learning guarantees. AISTATS.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from activekit import ActiveLearningClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> learner = ActiveLearningClassifier(
    ...     query_strategy="adaptive", budget=60, batch_size=10, random_state=0
    ... ).fit(X / 16, y)
    >>> albl = learner.query_strategy_
    >>> albl.arm_names_
    ['margin', 'coreset', 'uniform']
    >>> len(albl.choices_), albl.n_rounds_  # one arm played in each of the 5 rounds
    (5, 5)
    >>> bool(abs(albl.probabilities_.sum() - 1) < 1e-12)
    True
    """

    name = "adaptive"
    _parameter_constraints: dict = {  # noqa: RUF012
        "strategies": [list, tuple],
        "uniform_sampler": ["boolean"],
        "delta": [Interval(Real, 0, None, closed="neither")],
        "pmin": [Interval(Real, 0, 1, closed="right"), None],
        "n_rounds": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        strategies=("margin", "coreset"),
        uniform_sampler=True,
        delta=0.1,
        pmin=None,
        n_rounds=None,
    ):
        self.strategies = strategies
        self.uniform_sampler = uniform_sampler
        self.delta = delta
        self.pmin = pmin
        self.n_rounds = n_rounds

    # -- state -----------------------------------------------------------------------------

    def _start(self, learner, n_labeled):
        """A new bandit: resolved strategies, uniform weights, empty history."""
        strategies = [
            _registry.resolve_strategy(s, f"strategies[{i}]") for i, s in enumerate(self.strategies)
        ]
        names = [strategy_label(s) for s in strategies]
        if self.uniform_sampler:
            names.append("uniform")
        n_arms = len(names)
        if n_arms == 0:
            raise ValueError("strategies is empty and uniform_sampler=False: the bandit has no arm")
        n_rounds = self.n_rounds
        if n_rounds is None:
            budget = getattr(learner, "budget", None)
            batch_size = getattr(learner, "batch_size", None)
            if budget is not None and batch_size:
                n_rounds = max(1, math.ceil((budget - n_labeled) / batch_size))
            else:
                n_rounds = DEFAULT_ROUNDS
        if self.pmin is None:
            pmin = default_pmin(n_arms, n_rounds)
        elif self.pmin * n_arms > 1 + 1e-12:
            raise ValueError(
                f"pmin={self.pmin} is too large for {n_arms} arms: EXP4.P needs "
                f"n_arms * pmin <= 1, so pmin <= {1 / n_arms:.6g}"
            )
        else:
            pmin = float(self.pmin)
        self.strategies_ = strategies
        self.arm_names_ = names
        self.n_rounds_ = int(n_rounds)
        self.pmin_ = pmin
        self._set_weights(np.zeros(n_arms))
        self.choices_ = np.empty(0, dtype=np.intp)
        self.rewards_ = np.empty(0)
        self.probability_history_ = np.empty((0, n_arms))
        self.sample_indices_ = np.empty(0, dtype=np.intp)
        self.sample_weights_ = np.empty(0)
        self.n_labeled_ = n_labeled
        self.pending_ = None

    def _set_weights(self, log_weights):
        self.log_weights_ = log_weights
        w = np.exp(log_weights - log_weights.max())
        self.weights_ = w / w.sum()
        self.probabilities_ = arm_probabilities(log_weights, self.pmin_)

    def supported_targets(self):
        """What every arm supports, among single-label classes: the reward counts exact
        answers ``f_t(x_j) = y_j``, a class per row."""
        self._validate_params()
        arms = getattr(self, "strategies_", None)
        if arms is None:
            arms = [
                _registry.resolve_strategy(s, f"strategies[{i}]")
                for i, s in enumerate(self.strategies)
            ]
        return common_targets(arms, within=CLASS_TARGETS)

    def update(self, learner):
        """Credit the last query with the reward of the new model and update the bandit.

        Called by the learner after every training, on a copy of the strategy kept only if
        the step succeeds; every attribute is replaced, none changed in place. The first call
        (from ``fit``) starts a new bandit.
        """
        self._validate_params()
        n_labeled = _num_samples(learner.y_labeled_)
        if not hasattr(self, "log_weights_") or n_labeled < self.n_labeled_:
            self._start(learner, n_labeled)
        pending = self.pending_
        if pending is not None and pending["n_labeled"] == self.n_labeled_:
            self._credit(learner, pending, n_labeled)
        self.n_labeled_ = n_labeled
        self.pending_ = None
        self.strategies_ = updated_copies(self.strategies_, learner)
        return self

    def _credit(self, learner, pending, n_labeled):
        """Reward the round ``pending`` describes, if any of its rows were taught."""
        start = self.n_labeled_
        slots = {}
        for i, key in enumerate(pending["keys"]):
            slots.setdefault(key, []).append(i)
        matched, positions = [], []
        if n_labeled > start:
            taught = _row_keys(learner.X_labeled_, np.arange(start, n_labeled))
            for offset, key in enumerate(taught):
                if slots.get(key):
                    matched.append(slots[key].pop(0))
                    positions.append(start + offset)
        if not matched:
            return
        matched = np.asarray(matched, dtype=np.intp)
        indices = np.concatenate(
            [self.sample_indices_, np.asarray(positions, dtype=np.intp), pending["free_rows"]]
        )
        weights = np.concatenate(
            [self.sample_weights_, pending["weights"][matched], pending["free_weights"]]
        )
        correct = (
            learner.estimator_.predict(learner.X_labeled_[indices])
            == np.asarray(learner.y_labeled_)[indices]
        )
        reward = float(np.dot(weights, correct)) / self.n_rounds_
        gains = reward * (pending["advice"][matched] / pending["inclusion"][matched, None]).sum(0)
        log_weights = exp4p_step(
            self.log_weights_,
            pending["probabilities"],
            gains,
            self.pmin_,
            self.delta,
            self.n_rounds_,
        )
        self._set_weights(log_weights)
        self.choices_ = np.append(self.choices_, pending["arm"])
        self.rewards_ = np.append(self.rewards_, reward)
        self.probability_history_ = np.vstack([self.probability_history_, pending["probabilities"]])
        self.sample_indices_ = indices
        self.sample_weights_ = weights

    # -- query -----------------------------------------------------------------------------

    def select(self, learner, X_pool, n_instances, random_state=None):
        """Play one arm: every strategy advises a batch, EXP4.P draws the arm whose batch is
        returned, and what ``update`` will need to credit the round is kept in ``pending_``.
        Used without a learner's ``fit``, the first call starts the bandit."""
        self._validate_params()
        if not hasattr(self, "log_weights_"):
            self.update(learner)
        rng = check_random_state(random_state)
        n_pool = _num_samples(X_pool)
        n_labeled = _num_samples(learner.y_labeled_)
        b = int(n_instances)
        p = self.probabilities_
        n_arms = len(p)
        batches = [
            _checked(
                s.select(learner, X_pool, b, random_state=draw_seed(rng)), n_pool, b, s
            )
            for s in self.strategies_
        ]
        arm = int(rng.choice(n_arms, p=p))
        free = np.empty(0, dtype=np.intp)
        if arm < len(batches):
            chosen = batches[arm]
        else:
            chosen, free = _uniform_draws(n_pool, n_labeled, b, rng)
        advice = np.zeros((b, n_arms))
        for k, batch in enumerate(batches):
            advice[np.isin(chosen, batch), k] = 1.0 / b
        if self.uniform_sampler:
            advice[:, -1] = 1.0 / n_pool
        inclusion = b * (advice @ p)
        n_total = n_pool + n_labeled
        free_weight = (n_pool + 1) / (n_total * p[-1] * b) if len(free) else 0.0
        self.pending_ = {
            "n_labeled": n_labeled,
            "arm": arm,
            "probabilities": p,
            "keys": _row_keys(X_pool, chosen),
            "advice": advice,
            "inclusion": inclusion,
            "weights": 1.0 / (n_total * inclusion),
            "free_rows": free,
            "free_weights": np.full(len(free), free_weight),
        }
        return chosen
