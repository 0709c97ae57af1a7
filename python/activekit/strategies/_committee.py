"""Query by committee (Seung et al. 1992): vote entropy (Dagan and Engelson 1995), consensus
entropy and max disagreement (McCallum and Nigam 1998), and the variation ratio (Freeman 1965),
scored and selected by the Rust kernels.

A committee is the list of estimators a user gives, each trained on the labelled set, or by
default bootstrap replicas of the learner's own estimator (query by bagging, Abe and Mamitsuka
1998). The learner retrains it after every training through :meth:`QueryStrategy.update`.
When the learner wraps a torch module (a skorch net) and no committee is given, the members are
instead ``n_samples`` MC dropout passes of the trained module (see ``_posterior``).
"""

from __future__ import annotations

from typing import ClassVar

from .. import _kernels
from ._base import ScoringStrategy
from ._common import n_jobs_of
from ._posterior import _PosteriorSamples, posterior_docstring

__all__ = ["ConsensusEntropy", "MaxDisagreement", "VariationRatio", "VoteEntropy"]


class _CommitteeStrategy(_PosteriorSamples, ScoringStrategy):
    """Score each pool row by how much the posterior samples (a committee's members, or MC
    dropout passes) disagree on it.

    Subclasses set ``name``, ``_measure`` (a kernel measure) and ``_votes``.
    """

    def scores_rows_independently(self, learner):
        """A committee's votes and probabilities are row by row; MC dropout masks are drawn
        per batch, so sampled passes are not."""
        return getattr(self, "members_", None) is not None

    _measure: ClassVar[str]

    def score(self, learner, X_pool):
        """The disagreement on every row of ``X_pool`` (higher = more). MC dropout passes are
        seeded from the learner's ``random_state``, as :meth:`rank` is in ``query``."""
        random_state = getattr(learner, "random_state", None)
        n_jobs = n_jobs_of(learner)
        if self._votes:
            votes = self._sample_votes(learner, X_pool, random_state)
            return _kernels.vote_scores(votes, len(self.classes_), self._measure, n_jobs=n_jobs)
        probs = self.sample_probabilities(learner, X_pool, random_state)
        return _kernels.committee_scores(probs, self._measure, n_jobs=n_jobs)

    def rank(self, learner, X_pool, n_instances, random_state=None):
        """The ``n_instances`` rows of most disagreement and their scores, most first; equal
        scores are taken lowest row first. Scoring and selection run fused in Rust."""
        n_jobs = n_jobs_of(learner)
        if self._votes:
            votes = self._sample_votes(learner, X_pool, random_state)
            return _kernels.vote_top_k(
                votes, len(self.classes_), self._measure, n_instances, n_jobs=n_jobs
            )
        probs = self.sample_probabilities(learner, X_pool, random_state)
        return _kernels.committee_top_k(probs, self._measure, n_instances, n_jobs=n_jobs)


@posterior_docstring
class VoteEntropy(_CommitteeStrategy):
    """Choose the rows whose committee votes are most split: the entropy of the vote
    distribution, ``-sum_j (v_j / m) ln(v_j / m)`` for ``v_j`` of the ``m`` members predicting
    class ``j`` (Dagan and Engelson 1995).

    Votes come from each member's ``predict``, so members need no ``predict_proba``.

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
    >>> learner = ActiveLearningClassifier(query_strategy="vote_entropy", random_state=0)
    >>> learner = learner.fit(X[::10], y[::10])
    >>> len(learner.query_strategy_.members_)
    5
    >>> idx, scores = learner.query(X, n_instances=3, return_scores=True)
    >>> bool(scores[0] >= scores[1] >= scores[2])
    True
    """

    name = "vote_entropy"
    _measure = "vote_entropy"
    _votes = True


@posterior_docstring
class VariationRatio(_CommitteeStrategy):
    """Choose the rows where the most members vote against the majority: the
    variation ratio ``1 - max_j v_j / m`` for ``v_j`` of the ``m`` members predicting class
    ``j`` (Freeman 1965).

    Votes come from each member's ``predict``, so members need no ``predict_proba``.

    Parameters
    ----------
    {posterior_parameters}

    Attributes
    ----------
    {posterior_attributes}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import Perceptron, RidgeClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from activekit import ActiveLearningClassifier
    >>> from activekit.strategies import VariationRatio
    >>> X, y = load_iris(return_X_y=True)
    >>> strategy = VariationRatio(committee=[Perceptron(random_state=0), RidgeClassifier(),
    ...                                      DecisionTreeClassifier(random_state=0)])
    >>> learner = ActiveLearningClassifier(query_strategy=strategy).fit(X[::10], y[::10])
    >>> idx, scores = learner.query(X, n_instances=2, return_scores=True)
    >>> bool(np.isin((3 * scores).round(9), [0, 1, 2]).all())   # 3 members: 0, 1/3 or 2/3
    True
    """

    name = "variation_ratio"
    _measure = "variation_ratio"
    _votes = True


@posterior_docstring
class ConsensusEntropy(_CommitteeStrategy):
    """Choose the rows whose consensus is least sure: the entropy ``H(p̄)`` of the
    members' mean class distribution (McCallum and Nigam 1998).

    Members need ``predict_proba``; one that never saw a class gives it probability 0.

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
    >>> learner = ActiveLearningClassifier(query_strategy="consensus_entropy", random_state=0)
    >>> learner.fit(X[::10], y[::10]).query(X, n_instances=4).shape
    (4,)
    """

    name = "consensus_entropy"
    _measure = "consensus_entropy"
    _votes = False


@posterior_docstring
class MaxDisagreement(_CommitteeStrategy):
    """Choose the rows where the members differ most from their consensus: the mean
    KL divergence ``(1/m) sum_i KL(p_i || p̄)`` of each member's class distribution from the
    members' mean (McCallum and Nigam 1998). It equals ``H(p̄) - mean_i H(p_i)``: unlike
    consensus entropy, it is 0 where the members agree, however unsure they all are.

    Members need ``predict_proba``; one that never saw a class gives it probability 0.

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
    >>> learner = ActiveLearningClassifier(query_strategy="max_disagreement", random_state=0)
    >>> idx, kl = learner.fit(X[::10], y[::10]).query(X, n_instances=3, return_scores=True)
    >>> bool((kl >= 0).all())
    True
    """

    name = "max_disagreement"
    _measure = "max_disagreement"
    _votes = False
