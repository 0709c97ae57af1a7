"""The simulated loop: ``fit(X, y)`` with a ``budget``, in which ``y`` plays the oracle.

:func:`run` draws the initial labelled rows, trains, then queries ``batch_size`` rows at a
time from the rest of ``X`` and trains again, until the budget is spent or a stopping criterion
answers; it records one history entry per training round, shows the progress bar and calls the
user's ``on_round`` after every round.

It drives a learner (a :class:`~activekit._base.BaseActiveLearner`) through the steps the
learner defines, so that classifier and regressor share the loop:

- ``learner._initial_indices(y, n_initial, rng)``: the initial rows (a classifier stratifies);
- ``learner._make_estimator()`` and ``learner._fit_labeled(X, y, estimator)``: one training
  round on the labelled rows;
- ``learner._initial_fit_error(exc, X, y, labeled)``: a clearer error where the first fit, on
  the initial rows alone, fails (``None`` to let the estimator's own error through);
- ``learner._select(X_pool, n_instances, random_state)``: the strategy's checked choice;
- ``learner._check_stopping(X_pool)``: the first stopping criterion that answers.

The learner calls :func:`run` from ``fit`` with its write lock held and its state saved, so a
simulation that fails (the estimator, a strategy, a criterion, ``on_round``, Ctrl-C) leaves
the learner as it was.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from ._compat import _num_samples
from ._random import draw_seed
from .strategies._common import strategy_label

__all__ = ["n_rounds", "run"]


def n_rounds(budget, n_initial, batch_size):
    """Training rounds of a simulation that runs to its budget: the initial one, then one per
    batch of at most ``batch_size`` rows.

    Examples
    --------
    >>> from activekit._simulation import n_rounds
    >>> n_rounds(budget=50, n_initial=12, batch_size=7)  # 12, 19, 26, 33, 40, 47, 50
    7
    """
    return 1 + -(-(budget - n_initial) // batch_size)


def run(learner, X, y, on_round=None):
    """Simulate active learning on ``(X, y)`` with ``learner``'s parameters.

    Parameters
    ----------
    learner : BaseActiveLearner
        With ``query_strategy_`` and ``stopping_`` set; trained in place, round after round.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        The pool, validated.
    y : ndarray of shape (n_samples,)
        The oracle's answers, validated.
    on_round : callable or None
        Called as ``on_round(learner, record)`` after every training round.

    Returns
    -------
    labeled : ndarray of shape (n_labeled,)
        Rows of ``X`` acquired, in acquisition order.
    history : list of dict
        One record per training round (see the learner's ``history_``).
    reason : str
        Why the loop stopped: the criterion's answer, or the budget.
    """
    n_samples = _num_samples(X)
    budget = learner.budget
    if budget > n_samples:
        raise ValueError(
            f"budget={budget} exceeds the number of rows in X ({n_samples}); "
            "a simulation cannot acquire more labels than there are rows"
        )
    if learner.n_initial > budget:
        raise ValueError(f"n_initial={learner.n_initial} must not exceed budget={budget}")
    rng = check_random_state(learner.random_state)

    labeled = learner._initial_indices(y, learner.n_initial, rng)
    is_labeled = np.zeros(n_samples, dtype=bool)
    is_labeled[labeled] = True
    history = []

    def train(round_, chosen, query_time):
        start = time.perf_counter()
        try:
            learner._fit_labeled(X[labeled], y[labeled], learner._make_estimator())
        except ValueError as exc:
            # The first fit, on the initial rows only: the learner may say what to change.
            error = round_ == 0 and learner._initial_fit_error(exc, X, y, labeled)
            if not error:
                raise
            raise error from exc
        history.append(
            {
                "round": round_,
                "n_labeled": len(labeled),
                "indices": chosen,
                "query_time": query_time,
                "fit_time": time.perf_counter() - start,
            }
        )
        if on_round is not None:
            on_round(learner, history[-1])
        return learner._check_stopping(X[~is_labeled]) if learner.stopping_ else None

    reason = train(0, labeled.copy(), 0.0)
    with tqdm(
        total=budget,
        initial=len(labeled),
        # Shown only on a terminal when verbose (tqdm's None), never otherwise.
        disable=None if learner.verbose else True,
        desc=f"active learning ({strategy_label(learner.query_strategy_)})",
        unit="label",
    ) as progress:
        while reason is None and len(labeled) < budget:
            pool = np.flatnonzero(~is_labeled)
            n_instances = min(learner.batch_size, budget - len(labeled))
            start = time.perf_counter()
            local = learner._select(X[pool], n_instances, draw_seed(rng))
            query_time = time.perf_counter() - start
            chosen = pool[local]
            is_labeled[chosen] = True
            labeled = np.concatenate([labeled, chosen])
            reason = train(len(history), chosen, query_time)
            progress.update(len(chosen))

    return labeled, history, reason or f"budget: {len(labeled)} labels used of {budget}"
