"""The name table: which strategy class each registered name means.

One explicit tuple of classes, each registered under its ``name``; a new strategy is added to
it here. Hybrids (``epsilon_greedy``, ``adaptive``) resolve the names they are given through
this module, and are in the table themselves: the two modules import each other, so this one
binds the strategy modules, not their classes, at import, and reads the classes when a name is
looked up.

Examples
--------
>>> from activekit.strategies._registry import resolve_strategy
>>> resolve_strategy("margin", "base")
MarginSampling()
>>> resolve_strategy("margn", "strategies[0]")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: strategies[0]='margn' is not a known strategy; valid names are ['adaptive', ...]
"""

from __future__ import annotations

from sklearn.base import clone

from . import (
    _adaptive,
    _badge,
    _bayesian,
    _cluster,
    _committee,
    _density,
    _diversity,
    _expected,
    _hybrid,
    _multilabel,
    _random,
    _regression,
    _uncertainty,
)

__all__ = [
    "get_strategy",
    "get_strategy_names",
    "multilabel_only_strategies",
    "registered_classes",
    "resolve_strategy",
]


def registered_classes():
    """Every registered strategy class, in the order of the families in the README."""
    return (
        _random.RandomSampling,
        _uncertainty.LeastConfidentSampling,
        _uncertainty.MarginSampling,
        _uncertainty.EntropySampling,
        _committee.VoteEntropy,
        _committee.ConsensusEntropy,
        _committee.MaxDisagreement,
        _committee.VariationRatio,
        _bayesian.BALD,
        _bayesian.BatchBALD,
        _bayesian.MeanSTD,
        _density.InformationDensity,
        _diversity.CoreSet,
        _diversity.RankedBatch,
        _cluster.KMeansSampling,
        _cluster.TypiClust,
        _cluster.ClusterMargin,
        _badge.BADGE,
        _expected.ExpectedGradientLength,
        _expected.ExpectedErrorReduction,
        _regression.CommitteeVariance,
        _regression.GreedySamplingX,
        _regression.GreedySamplingY,
        _regression.GreedySamplingXY,
        _regression.ExpectedModelChange,
        _multilabel.MeanEntropyMultilabel,
        _multilabel.MaxEntropyMultilabel,
        _multilabel.BinaryMinimization,
        _multilabel.MaxLoss,
        _multilabel.MeanMaxLoss,
        _multilabel.MMC,
        _multilabel.LabelCardinalityInconsistency,
        _hybrid.EpsilonGreedy,
        _adaptive.ActiveLearningByLearning,
    )


def multilabel_only_strategies():
    """Names of the strategies for multi-label targets alone, in the table's order."""
    return tuple(
        cls.name for cls in registered_classes() if cls._targets == ("multilabel-indicator",)
    )


def _table():
    return {cls.name: cls for cls in registered_classes()}


def get_strategy_names():
    """Sorted names accepted wherever a strategy may be named.

    Returns
    -------
    names : list of str
    """
    return sorted(_table())


def resolve_strategy(strategy, label):
    """A fresh strategy from a registered name, or an unfitted clone of a strategy object.

    ``label`` is how errors name the parameter, e.g. ``"query_strategy"``, ``"base"`` or
    ``"strategies[1]"``.
    """
    if isinstance(strategy, str):
        table = _table()
        if strategy not in table:
            raise ValueError(
                f"{label}={strategy!r} is not a known strategy; "
                f"valid names are {sorted(table)}"
            )
        return table[strategy]()
    if callable(getattr(strategy, "select", None)):
        return clone(strategy, safe=False)
    raise TypeError(
        f"{label} must be a strategy name or an object with a select method, "
        f"got {type(strategy).__name__}"
    )


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
    return resolve_strategy(strategy, "query_strategy")
