"""The strategy protocol, and three bases named by the one method a subclass writes.

- :class:`QueryStrategy`: ``select`` (the positions to label).
- :class:`RankingStrategy`: ``rank`` (the positions in order, with a number each).
- :class:`ScoringStrategy`: ``score`` (a number for every pool row; the top ones are picked).

``OrderedStrategy`` is ``RankingStrategy``'s former name, kept as an alias.
"""

from __future__ import annotations

from typing import ClassVar

from sklearn.base import BaseEstimator

from .. import _kernels

__all__ = ["OrderedStrategy", "QueryStrategy", "RankingStrategy", "ScoringStrategy"]


class QueryStrategy(BaseEstimator):
    """Base class of query strategies.

    A strategy decides which rows of an unlabelled pool are worth labelling next. Its whole
    contract is :meth:`select`. Strategies are small scikit-learn estimators: their
    constructor only stores parameters, so they clone, pickle and take part in grid search.

    Subclasses set the class attribute ``name`` (the key under which
    :func:`activekit.strategies.get_strategy` finds them once it is added to the table in
    ``activekit/strategies/_registry.py``) and implement :meth:`select`; or they derive from
    :class:`RankingStrategy` and write ``rank``, or from :class:`ScoringStrategy` and write
    ``score``.
    """

    name: ClassVar[str]
    #: The target types (names from :func:`sklearn.utils.multiclass.type_of_target`) the
    #: strategy works on; checked by :func:`activekit.strategies._common.check_target_type`.
    _targets: ClassVar[tuple] = ("binary", "multiclass")

    #: Whether a row's score depends only on that row and the fitted learner, not on the other
    #: rows of the pool nor on a draw over them; read through :meth:`scores_rows_independently`.
    _rows_independent: ClassVar[bool] = False

    def scores_rows_independently(self, learner):
        """Whether this strategy scores each row from that row and ``learner`` alone.

        Then a pool split in chunks can be ranked chunk by chunk and the top scores merged
        into the whole pool's top scores (how :mod:`activekit._dask` queries a Dask pool);
        otherwise the chunks give candidates for a second selection.

        Parameters
        ----------
        learner : ActiveLearningClassifier or ActiveLearningRegressor
            The fitted learner the strategy will score with.

        Returns
        -------
        independent : bool
        """
        return self._rows_independent

    def supported_targets(self):
        """The target types this strategy works on, as ``type_of_target`` names them.

        The class attribute ``_targets`` by default; strategies made of other strategies
        (``epsilon_greedy``, ``combined``, ``adaptive``) support what all their parts support.

        Returns
        -------
        targets : tuple of str
            Among ``"binary"``, ``"multiclass"``, ``"continuous"``, ``"multilabel-indicator"``.
        """
        return tuple(self._targets)

    def select(self, learner, X_pool, n_instances, random_state=None):
        """Choose ``n_instances`` rows of ``X_pool`` to label, most informative first.

        Parameters
        ----------
        learner : ActiveLearningClassifier
            A fitted learner; ``learner.estimator_`` is the current model and
            ``learner.classes_`` its classes. The strategy must not modify it.
        X_pool : {ndarray, sparse matrix} of shape (n_pool, n_features)
            The validated pool.
        n_instances : int
            How many rows to choose, ``1 <= n_instances <= n_pool``.
        random_state : int, RandomState instance or None
            The only source of randomness the strategy may use.

        Returns
        -------
        indices : ndarray of shape (n_instances,)
            Distinct positions in ``X_pool``, most informative first.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement select")

    def update(self, learner):
        """Hook called each time the learner's model has been (re)trained on its labelled set.

        The learner calls it in ``fit``, after every ``teach`` and in every simulated round, on
        a shallow copy of its strategy that it keeps only if the whole step succeeds. Strategies
        that keep models of their own (a committee) or learn across rounds (a bandit) train or
        update them here; they must *replace* their fitted attributes, never change them in
        place, so that a failed step leaves the previous strategy intact. The default does
        nothing.

        Parameters
        ----------
        learner : ActiveLearningClassifier
            The learner, already holding the new ``estimator_``, ``classes_``,
            ``X_labeled_`` and ``y_labeled_``.

        Returns
        -------
        self : QueryStrategy
        """
        return self


class RankingStrategy(QueryStrategy):
    """Base of strategies that pick a batch themselves, in order, with a number for each pick:
    subclasses write :meth:`rank`; :meth:`select` returns its picks, and
    ``query(return_scores=True)`` its numbers.

    For strategies whose picks depend on each other (a greedy cover, a clustering, a batch
    search); a strategy that scores every row on its own and takes the top scores is a
    :class:`ScoringStrategy`.

    ``OrderedStrategy`` is this class's former name. Before :class:`ScoringStrategy` existed,
    ``RankingStrategy`` was the base of scoring strategies; a subclass written then, which
    writes only ``score``, is still ranked by its scores.
    """

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """The picks, most informative first, and the criterion each was picked by.

        Returns
        -------
        indices : ndarray of shape (n_instances,)
        scores : ndarray of shape (n_instances,)
        """
        if callable(getattr(self, "score", None)):
            return _top_scores(self, learner, X_pool, n_instances)
        raise NotImplementedError(f"{type(self).__name__} does not implement rank")

    def select(self, learner, X_pool, n_instances, random_state=None):
        return self.rank(learner, X_pool, n_instances, random_state)[0]


#: The former name of :class:`RankingStrategy`.
OrderedStrategy = RankingStrategy


class ScoringStrategy(RankingStrategy):
    """Base of strategies that score every row and take the highest scores: subclasses write
    :meth:`score`; :meth:`rank` and :meth:`select` follow.

    A subclass may override :meth:`rank` with a kernel that fuses scoring and selection.
    Scoring strategies are what :func:`activekit.strategies.combine` combines.
    """

    def score(self, learner, X_pool):
        """Informativeness of every row of ``X_pool`` (higher = more informative).

        Returns
        -------
        scores : ndarray of shape (n_pool,)
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement score")

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """The ``n_instances`` highest-scoring rows and their scores, highest first.

        Equal scores are taken lowest index first.
        """
        return _top_scores(self, learner, X_pool, n_instances)


def _top_scores(strategy, learner, X_pool, n_instances):
    scores = strategy.score(learner, X_pool)
    return _kernels.top_k(scores, n_instances, n_jobs=learner.n_jobs)
