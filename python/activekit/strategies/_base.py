"""The strategy protocol: one method, ``select``."""

from __future__ import annotations

from typing import ClassVar

from sklearn.base import BaseEstimator

from .. import _kernels

__all__ = ["OrderedStrategy", "QueryStrategy", "RankingStrategy"]


class QueryStrategy(BaseEstimator):
    """Base class of query strategies.

    A strategy decides which rows of an unlabelled pool are worth labelling next. Its whole
    contract is :meth:`select`. Strategies are small scikit-learn estimators: their
    constructor only stores parameters, so they clone, pickle and take part in grid search.

    Subclasses set the class attribute ``name`` (the key under which
    :func:`activekit.strategies.get_strategy` finds them) and implement :meth:`select`.
    """

    name: ClassVar[str]

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


class OrderedStrategy(QueryStrategy):
    """A strategy whose picks each come with a number: subclasses implement :meth:`rank`,
    and :meth:`select` returns its picks (so ``query(return_scores=True)`` works)."""

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """The picks, most informative first, and the criterion each was picked by.

        Returns
        -------
        indices : ndarray of shape (n_instances,)
        scores : ndarray of shape (n_instances,)
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement rank")

    def select(self, learner, X_pool, n_instances, random_state=None):
        return self.rank(learner, X_pool, n_instances, random_state)[0]


class RankingStrategy(OrderedStrategy):
    """A strategy that scores every row and takes the highest scores.

    Subclasses implement :meth:`score`; :meth:`rank` and :meth:`select` follow. A subclass may
    override :meth:`rank` with a kernel that fuses scoring and selection.
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
        scores = self.score(learner, X_pool)
        return _kernels.top_k(scores, n_instances, n_jobs=learner.n_jobs)
