"""Pools on Dask: ``learner.query`` over a ``dask.array.Array`` or a dask DataFrame of numeric
columns, on whatever scheduler is active (a ``distributed.Client``, or Dask's threads).

The pool is never brought to the client as a whole. What comes back is, per chunk, a few
candidates (global positions, their scores, and for two-stage strategies their rows), so the
client holds ``O(k x n_chunks)`` rows plus the labelled set. The learner is one node of the
graph: it is sent to each worker once, however many chunks that worker scores.

Three plans, chosen by the strategy (see ``docs/dask.md`` for each strategy's):

- **random**: the same draw as in memory, on the client, from the pool's length alone
  (:func:`activekit._random.choose_rows`: ``O(k)`` memory above ``2**20`` rows).
- **row-wise** (``strategy.scores_rows_independently(learner)``: uncertainty, committees,
  BALD and mean STD on a committee, expected gradient length, the multi-label and committee
  variance scores, ``combine`` of those by product, and information density with
  ``density="cosine"`` after one pass for the sum of unit rows): each chunk is ranked in its
  worker by the strategy itself (the Rust kernels, the model's ``predict_proba``), its top
  ``k`` kept with global positions, and the candidates merged in a tree: the ``k`` highest
  scores, ties to the lowest global position, as in memory. The picks are the in-memory picks
  whenever each row's score is computed to the same bits in a chunk as in the whole pool:
  true of the kernels and of models that predict row by row (trees, naive Bayes), but BLAS
  matrix products (linear models, MLPs) can round a row's last bit differently with the block
  it is computed in, as they do on one machine with another number of threads; picks can then
  differ between rows whose scores are that close. Information density's pool sum is added in
  another order than on one machine, so its scores agree to rounding, not to the bit.
- **two-stage** (every other strategy: ``coreset``, ``ranked_batch``, ``badge``, ``kmeans``,
  ``typiclust``, ``cluster_margin``, ``batch_bald``, ...): each chunk's own selection of
  ``k`` rows (the labelled set is the learner's in every worker), then the strategy's
  selection of ``k`` among the union of the candidates on the client. For ``coreset`` this
  is the composable core-set for k-center: every pool row is within ``4 OPT`` of the picks
  and the labelled set (``OPT`` the best covering radius of any ``k`` centres added to the
  labelled set), so within 4x the exact greedy's radius. The others are approximate without
  a bound: they choose among the candidates only.

``adaptive`` is refused: its bandit's importance weights need inclusion probabilities over
the whole pool. ``epsilon_greedy`` runs its base by these plans and draws its random picks on
the client, as in memory. Strategies that sample MC dropout masks (BALD on a torch module
without a committee) are two-stage: their masks depend on the batch.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np

from . import _device, _kernels
from ._dependencies import import_optional
from ._random import draw_seed

__all__ = ["is_dask_collection", "query_dask"]

#: Candidates merged per node of the reduction tree.
FAN_IN = 8


def is_dask_collection(X):
    """Whether ``X`` is a Dask array or DataFrame; never imports dask.

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._dask import is_dask_collection
    >>> is_dask_collection(np.zeros((2, 2)))
    False
    """
    module = type(X).__module__ or ""
    return (module == "dask" or module.startswith("dask.")) and hasattr(X, "__dask_graph__")


# -- the pool -----------------------------------------------------------------------------------


def as_row_chunks(X, n_features, feature_names=None):
    """``X`` as a 2-D dask array of one chunk along the features, with known row chunks,
    checked against the learner's ``n_features`` (and, for a DataFrame, the column names it
    was fitted with)."""
    da = import_optional("dask.array", extra="dask")
    if not isinstance(X, da.Array):
        X = _frame_to_array(X, feature_names)
    if X.ndim != 2:
        raise ValueError(
            f"X_pool must be a 2-D dask array (rows x features), got {X.ndim} dimensions "
            f"of shape {X.shape}"
        )
    if any(math.isnan(c) for c in X.chunks[0]) or math.isnan(X.shape[1]):
        raise ValueError(
            "X_pool is a dask array with chunks of unknown size; call "
            "X_pool.compute_chunk_sizes() (or build it with known chunks) before querying"
        )
    if X.dtype.kind not in "biuf":
        raise TypeError(
            f"X_pool must hold numbers (bool, integer or float), got a dask array of {X.dtype}"
        )
    if X.shape[1] != n_features:
        raise ValueError(
            f"X_pool has {X.shape[1]} features, but the learner was fitted with {n_features}"
        )
    if X.shape[0] == 0:
        raise ValueError("X_pool has no rows; a query needs at least one")
    if len(X.chunks[1]) > 1:  # every worker needs whole rows: join the feature chunks
        X = X.rechunk({1: -1})
    return X


def _frame_to_array(X, feature_names=None):
    dd = import_optional("dask.dataframe", extra="dask")
    if isinstance(X, dd.Series):
        raise ValueError("X_pool must be 2-D: got a dask Series; use a DataFrame or an array")
    if not isinstance(X, dd.DataFrame):
        raise TypeError(
            f"X_pool must be a dask Array or DataFrame, got {type(X).__module__}.{type(X).__name__}"
        )
    bad = [str(c) for c, t in X.dtypes.items() if t.kind not in "biuf"]
    if bad:
        raise TypeError(
            f"X_pool's columns must be numeric; these are not: {bad[:10]}"
            + (" ..." if len(bad) > 10 else "")
        )
    if feature_names is not None:
        columns = [str(c) for c in X.columns]
        if columns != [str(c) for c in feature_names]:
            raise ValueError(
                "X_pool's columns must be the feature names the learner was fitted with, in "
                f"the same order: expected {list(feature_names)[:10]}, got {columns[:10]}"
            )
    return X.to_dask_array(lengths=True)  # a pass over the partitions for their lengths


# -- plans --------------------------------------------------------------------------------------


def query_dask(learner, X, n_instances, seed, return_scores):
    """``learner.query`` for a Dask pool ``X`` (from :func:`as_row_chunks`) once ``query`` has
    checked its arguments: global positions (and scores)."""
    dask = import_optional("dask", extra="dask")
    indices, scores = _select(dask, learner, learner.query_strategy_, X, n_instances, seed)
    indices = np.asarray(indices, dtype=np.intp)
    return (indices, scores) if return_scores else indices


def _select(dask, learner, strategy, X, k, seed):
    from .strategies._adaptive import ActiveLearningByLearning
    from .strategies._hybrid import EpsilonGreedy
    from .strategies._random import RandomSampling

    if isinstance(strategy, ActiveLearningByLearning):
        raise ValueError(
            "query strategy 'adaptive' cannot query a Dask pool: its bandit weighs each arm "
            "by inclusion probabilities over the whole pool, which a query over chunks does "
            "not have; query an in-memory pool, or use one of its arms"
        )
    if type(strategy) is RandomSampling:
        return strategy.select(learner, _Rows(X.shape[0]), k, seed), None
    if type(strategy) is EpsilonGreedy:
        return _epsilon_greedy(dask, learner, strategy, X, k, seed), None
    if _rows_independent(strategy, learner) and callable(getattr(strategy, "rank", None)):
        return _row_wise(dask, learner, strategy, X, k)  # merging needs each chunk's scores
    return _two_stage(dask, learner, strategy, X, k, seed)


def _rows_independent(strategy, learner):
    check = getattr(strategy, "scores_rows_independently", None)
    return bool(callable(check) and check(learner))


class _Rows:
    """Stands for a pool of ``n`` rows where a strategy reads only its length."""

    def __init__(self, n):
        self.shape = (n, 0)

    def __len__(self):
        return self.shape[0]


def _epsilon_greedy(dask, learner, strategy, X, k, seed):
    """EpsilonGreedy.select with its base run by the plans here: the same draws in the same
    order (the number of random picks, the base's seed, then the random rows)."""
    from sklearn.utils import check_random_state

    from .strategies._hybrid import n_random_picks, random_rest

    strategy._validate_params()
    rng = check_random_state(seed)
    n_random = n_random_picks(strategy.epsilon, k, rng)
    base_seed = draw_seed(rng)
    picks = np.empty(0, dtype=np.intp)
    if k > n_random:
        picks, _ = _select(dask, learner, strategy._base(), X, k - n_random, base_seed)
        picks = np.asarray(picks, dtype=np.intp)
    if n_random:
        picks = np.concatenate([picks, random_rest(rng, X.shape[0], picks, n_random)])
    return picks


def _blocks(X):
    """The row blocks of ``X`` as delayed arrays, with the global position of each first row;
    blocks of no rows (a filtered DataFrame's empty partitions) are left out."""
    blocks = X.to_delayed().ravel().tolist()
    sizes = np.asarray(X.chunks[0], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    kept = [i for i, size in enumerate(sizes.tolist()) if size > 0]
    return [blocks[i] for i in kept], [int(offsets[i]) for i in kept]


def _rank_block(learner, strategy, block, offset, k, seed, with_rows):
    """In a worker: the strategy's top ``k`` of one block (global positions, scores, and the
    rows themselves for a second stage)."""
    # A copy: what a strategy records of its search (batch_bald's shortlist) stays with this
    # block, also where the threaded scheduler hands every block the same objects.
    strategy = copy.copy(learner.query_strategy_ if strategy is None else strategy)
    rows = _validate_block(learner, block)
    idx, scores = _choose(learner, strategy, rows, min(k, rows.shape[0]), seed)
    return offset + idx, scores, (rows[idx] if with_rows else None)


def _choose(learner, strategy, rows, k, seed):
    """The strategy's ``k`` picks among ``rows`` (positions in them) and, for a ranking
    strategy, their scores; on the learner's device, as ``query`` runs it."""
    with _device.device_scope(learner.device):
        if callable(getattr(strategy, "rank", None)):
            idx, scores = strategy.rank(learner, rows, k, random_state=seed)
            scores = np.asarray(scores)
        else:
            idx, scores = strategy.select(learner, rows, k, random_state=seed), None
    return np.asarray(idx, dtype=np.int64), scores


def _merge_top(parts, k):
    """The ``k`` highest scores of several blocks' candidates, ties to the lowest global
    position: the candidates in position order, then the kernel's top-k (lowest first)."""
    idx = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    order = np.argsort(idx, kind="stable")
    idx, scores = idx[order], scores[order]
    top, top_scores = _kernels.top_k(scores, min(k, len(scores)))
    return idx[top], np.asarray(top_scores), None


def _tree(dask, parts, combine, k):
    """Combine delayed ``parts`` ``FAN_IN`` at a time until one is left."""
    while len(parts) > 1:
        parts = [
            dask.delayed(combine, pure=True)(parts[i : i + FAN_IN], k)
            for i in range(0, len(parts), FAN_IN)
        ]
    return parts[0]


def _learner_node(dask, learner):
    """The learner as one node of the graph: shipped once to each worker that needs it."""
    return dask.delayed(learner, pure=True, traverse=False)


def _strategy_node(dask, learner, strategy):
    """The strategy as a node of its own, or ``None`` for the learner's own strategy, which
    travels inside the learner (a committee's members would otherwise be shipped twice)."""
    if strategy is learner.query_strategy_:
        return None
    return dask.delayed(strategy, pure=True, traverse=False)


def _row_wise(dask, learner, strategy, X, k):
    strategy = _with_pool_context(dask, learner, strategy, X)
    node = _learner_node(dask, learner)
    node_s = _strategy_node(dask, learner, strategy)
    blocks, offsets = _blocks(X)
    parts = [
        dask.delayed(_rank_block, pure=True)(node, node_s, b, o, k, None, False)
        for b, o in zip(blocks, offsets, strict=True)
    ]
    idx, scores, _ = dask.compute(_tree(dask, parts, _merge_top, k))[0]
    return idx, scores


def _with_pool_context(dask, learner, strategy, X):
    """A strategy whose row scores need a sum over the whole pool first (information
    density's sum of unit rows, :meth:`~activekit.strategies.InformationDensity.unit_row_sum`)
    gets it here, from one pass over the blocks summed in a tree."""
    if not callable(getattr(strategy, "unit_row_sum", None)):
        return strategy
    node = _learner_node(dask, learner)
    node_s = _strategy_node(dask, learner, strategy)
    parts = [dask.delayed(_unit_sum_block, pure=True)(node, node_s, b) for b in _blocks(X)[0]]
    total = dask.compute(_tree(dask, parts, _sum_parts, None))[0]
    return strategy.with_pool_sum(total, X.shape[0])


def _unit_sum_block(learner, strategy, block):
    if strategy is None:
        strategy = learner.query_strategy_
    return strategy.unit_row_sum(learner, _validate_block(learner, block))


def _validate_block(learner, block):
    """A block's rows checked as the learner checks a pool (dtype, NaN, width). A block is an
    array: a DataFrame pool's column names were checked against the learner's on the client,
    so scikit-learn's warning about an array without them does not apply."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return learner._validate_X(block, reset=False)


def _sum_parts(parts, _):
    return np.sum(parts, axis=0)


def _two_stage(dask, learner, strategy, X, k, seed):
    from sklearn.utils import check_random_state

    rng = check_random_state(seed)
    node = _learner_node(dask, learner)
    node_s = _strategy_node(dask, learner, strategy)
    blocks, offsets = _blocks(X)
    if len(blocks) == 1:  # the whole pool in one chunk: the in-memory selection, in its worker
        part = dask.delayed(_rank_block, pure=True)(
            node, node_s, blocks[0], offsets[0], k, seed, False
        )
        idx, scores, _ = dask.compute(part)[0]
        return idx, scores
    seeds = [draw_seed(rng) for _ in blocks]
    final_seed = draw_seed(rng)
    parts = [
        dask.delayed(_rank_block, pure=True)(node, node_s, b, o, k, s, True)
        for b, o, s in zip(blocks, offsets, seeds, strict=True)
    ]
    parts = dask.compute(*parts)
    idx = np.concatenate([p[0] for p in parts])
    rows = np.concatenate([p[2] for p in parts])
    order = np.argsort(idx, kind="stable")
    idx, rows = idx[order], rows[order]
    # Each block gave min(k, its rows) candidates, so the union holds at least k.
    top, scores = _choose(learner, strategy, rows, k, final_seed)
    return idx[top], scores
