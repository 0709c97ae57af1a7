"""Query strategies, and the table that finds them by name.

Examples
--------
>>> from activekit.strategies import get_strategy, get_strategy_names
>>> get_strategy_names()  # doctest: +NORMALIZE_WHITESPACE
['adaptive', 'badge', 'bald', 'batch_bald', 'cluster_margin', 'consensus_entropy', 'coreset',
 'entropy', 'epsilon_greedy', 'expected_error_reduction', 'expected_gradient_length',
 'information_density', 'kmeans', 'least_confident', 'margin', 'max_disagreement', 'mean_std',
 'random', 'ranked_batch', 'typiclust', 'variation_ratio', 'vote_entropy']
>>> get_strategy("margin")
MarginSampling()
"""

from __future__ import annotations

from sklearn.base import clone

from ._adaptive import ActiveLearningByLearning
from ._badge import BADGE
from ._base import OrderedStrategy, QueryStrategy, RankingStrategy
from ._bayesian import BALD, BatchBALD, MeanSTD
from ._cluster import ClusterMargin, KMeansSampling, TypiClust
from ._committee import ConsensusEntropy, MaxDisagreement, VariationRatio, VoteEntropy
from ._density import InformationDensity
from ._diversity import CoreSet, RankedBatch
from ._expected import ExpectedErrorReduction, ExpectedGradientLength
from ._hybrid import CombinedStrategy, EpsilonGreedy, combine
from ._random import RandomSampling
from ._uncertainty import EntropySampling, LeastConfidentSampling, MarginSampling

__all__ = [
    "BADGE",
    "BALD",
    "ActiveLearningByLearning",
    "BatchBALD",
    "ClusterMargin",
    "CombinedStrategy",
    "ConsensusEntropy",
    "CoreSet",
    "EntropySampling",
    "EpsilonGreedy",
    "ExpectedErrorReduction",
    "ExpectedGradientLength",
    "InformationDensity",
    "KMeansSampling",
    "LeastConfidentSampling",
    "MarginSampling",
    "MaxDisagreement",
    "MeanSTD",
    "OrderedStrategy",
    "QueryStrategy",
    "RandomSampling",
    "RankedBatch",
    "RankingStrategy",
    "TypiClust",
    "VariationRatio",
    "VoteEntropy",
    "combine",
    "get_strategy",
    "get_strategy_names",
]

_STRATEGIES = {
    cls.name: cls
    for cls in (
        RandomSampling,
        LeastConfidentSampling,
        MarginSampling,
        EntropySampling,
        VoteEntropy,
        ConsensusEntropy,
        MaxDisagreement,
        VariationRatio,
        BALD,
        BatchBALD,
        MeanSTD,
        InformationDensity,
        CoreSet,
        RankedBatch,
        KMeansSampling,
        TypiClust,
        ClusterMargin,
        BADGE,
        ExpectedGradientLength,
        ExpectedErrorReduction,
        EpsilonGreedy,
        ActiveLearningByLearning,
    )
}


def get_strategy_names():
    """Sorted names accepted wherever a strategy may be named.

    Returns
    -------
    names : list of str
    """
    return sorted(_STRATEGIES)


def get_strategy(strategy):
    """A fresh strategy object from a registered name, or an unfitted clone of an object.

    Parameters
    ----------
    strategy : str or object with a ``select`` method

    Returns
    -------
    strategy : QueryStrategy

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    TypeError
        For anything that is neither a name nor has a ``select`` method.
    """
    if isinstance(strategy, str):
        try:
            return _STRATEGIES[strategy]()
        except KeyError:
            raise ValueError(
                f"query_strategy={strategy!r} is not a known strategy; "
                f"valid names are {get_strategy_names()}"
            ) from None
    if callable(getattr(strategy, "select", None)):
        return clone(strategy, safe=False)
    raise TypeError(
        "query_strategy must be a strategy name or an object with a select method, "
        f"got {type(strategy).__name__}"
    )
