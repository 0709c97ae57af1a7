"""The public surface is pinned: adding or removing a name is a deliberate change."""

import inspect
import sys

import numpy as np

import activekit
import activekit.strategies
from activekit import _native


def test_exported_members():
    assert sorted(activekit.__all__) == [
        "ActiveLearningClassifier",
        "ActiveLearningRegressor",
        "__version__",
        "evaluation",
        "get_strategy_names",
        "stopping",
        "strategies",
    ]
    for name in activekit.__all__:
        assert hasattr(activekit, name)
    assert sorted(activekit.strategies.__all__) == [
        "ActiveLearningByLearning",
        "BADGE",
        "BALD",
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
        "MMC",
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
    assert sorted(activekit.evaluation.__all__) == [
        "ActiveLearningCurveDisplay",
        "ActiveLearningResults",
        "DEFAULT_STRATEGIES",
        "evaluate_strategies",
        "normalized_auc",
    ]
    assert sorted(activekit.stopping.__all__) == [
        "LabelBudget",
        "MaxUncertainty",
        "StabilizingPredictions",
        "StoppingCriterion",
    ]


def test_constructor_signature():
    params = inspect.signature(activekit.ActiveLearningClassifier).parameters
    assert {name: p.default for name, p in params.items()} == {
        "estimator": None,
        "query_strategy": "margin",
        "batch_size": 10,
        "n_initial": 10,
        "budget": None,
        "device": "cpu",
        "n_jobs": None,
        "random_state": None,
        "verbose": 0,
        "stopping": None,
    }


def test_fit_signature():
    """``on_round`` is the one fit parameter beyond X and y, keyword-only."""
    params = inspect.signature(activekit.ActiveLearningClassifier.fit).parameters
    assert [(name, p.kind.name, p.default) for name, p in params.items()] == [
        ("self", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("X", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("y", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("on_round", "KEYWORD_ONLY", None),
    ]


def test_import_does_not_import_torch_or_matplotlib():
    import subprocess

    code = (
        "import activekit, sys; "
        "assert not {'torch', 'matplotlib'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_versions_agree():
    assert activekit.__version__ == _native.__version__


def test_native_stub_matches_the_build():
    """Every function in the stub exists in the extension with the same parameters."""
    import ast
    from pathlib import Path

    stub = Path(activekit.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    stubbed = {f.name: [a.arg for a in f.args.args] for f in tree.body if isinstance(f, ast.FunctionDef)}
    built = {
        name for name, obj in vars(_native).items() if callable(obj) and not name.startswith("_")
    }
    assert set(stubbed) == built
    for name, args in stubbed.items():
        # pyo3 puts the text signature on __text_signature__.
        sig = inspect.signature(getattr(_native, name))
        assert list(sig.parameters) == args, name
    assert np.asarray(_native.top_k(np.array([1.0, 2.0]), 1, 1)[0]).tolist() == [1]
