"""Evaluation of query strategies: learning curves, label savings, plots.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from activekit.evaluation import evaluate_strategies
>>> X, y = load_iris(return_X_y=True)
>>> results = evaluate_strategies(X, y, strategies=["random", "entropy"], seeds=1,
...                               budget=25, batch_size=5, n_initial=10)
>>> [row["strategy"] for row in results.summary()]
['random', 'entropy']
"""

from ._display import ActiveLearningCurveDisplay
from ._results import ActiveLearningResults, normalized_auc
from ._run import DEFAULT_STRATEGIES, evaluate_strategies

__all__ = [
    "DEFAULT_STRATEGIES",
    "ActiveLearningCurveDisplay",
    "ActiveLearningResults",
    "evaluate_strategies",
    "normalized_auc",
]
