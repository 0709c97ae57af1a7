"""Query strategies, and the table that finds them by name (``_registry``).

Examples
--------
>>> from activekit.strategies import get_strategy, get_strategy_names
>>> get_strategy_names()  # doctest: +NORMALIZE_WHITESPACE
['adaptive', 'badge', 'bald', 'batch_bald', 'binary_minimization', 'cluster_margin',
 'committee_variance', 'consensus_entropy', 'coreset', 'emcm', 'entropy', 'epsilon_greedy',
 'expected_error_reduction', 'expected_gradient_length', 'gsx', 'gsy', 'igs',
 'information_density', 'kmeans', 'label_cardinality', 'least_confident', 'margin',
 'max_disagreement', 'max_entropy', 'max_loss', 'mean_entropy', 'mean_max_loss', 'mean_std',
 'mmc', 'random', 'ranked_batch', 'typiclust', 'variation_ratio', 'vote_entropy']
>>> get_strategy("margin")
MarginSampling()
"""

from __future__ import annotations

from ._adaptive import ActiveLearningByLearning
from ._badge import BADGE
from ._base import OrderedStrategy, QueryStrategy, RankingStrategy, ScoringStrategy
from ._bayesian import BALD, BatchBALD, MeanSTD
from ._cluster import ClusterMargin, KMeansSampling, TypiClust
from ._committee import ConsensusEntropy, MaxDisagreement, VariationRatio, VoteEntropy
from ._density import InformationDensity
from ._diversity import CoreSet, RankedBatch
from ._expected import ExpectedErrorReduction, ExpectedGradientLength
from ._hybrid import CombinedStrategy, EpsilonGreedy, combine
from ._multilabel import (
    MMC,
    BinaryMinimization,
    LabelCardinalityInconsistency,
    MaxEntropyMultilabel,
    MaxLoss,
    MeanEntropyMultilabel,
    MeanMaxLoss,
)
from ._random import RandomSampling
from ._registry import get_strategy, get_strategy_names
from ._regression import (
    CommitteeVariance,
    ExpectedModelChange,
    GreedySamplingX,
    GreedySamplingXY,
    GreedySamplingY,
)
from ._uncertainty import EntropySampling, LeastConfidentSampling, MarginSampling

__all__ = [
    "BADGE",
    "BALD",
    "MMC",
    "ActiveLearningByLearning",
    "BatchBALD",
    "BinaryMinimization",
    "ClusterMargin",
    "CombinedStrategy",
    "CommitteeVariance",
    "ConsensusEntropy",
    "CoreSet",
    "EntropySampling",
    "EpsilonGreedy",
    "ExpectedErrorReduction",
    "ExpectedGradientLength",
    "ExpectedModelChange",
    "GreedySamplingX",
    "GreedySamplingXY",
    "GreedySamplingY",
    "InformationDensity",
    "KMeansSampling",
    "LabelCardinalityInconsistency",
    "LeastConfidentSampling",
    "MarginSampling",
    "MaxDisagreement",
    "MaxEntropyMultilabel",
    "MaxLoss",
    "MeanEntropyMultilabel",
    "MeanMaxLoss",
    "MeanSTD",
    "OrderedStrategy",
    "QueryStrategy",
    "RandomSampling",
    "RankedBatch",
    "RankingStrategy",
    "ScoringStrategy",
    "TypiClust",
    "VariationRatio",
    "VoteEntropy",
    "combine",
    "get_strategy",
    "get_strategy_names",
]
