"""activekit: active learning for scikit-learn, with a Rust core for pool scoring and selection.

Examples
--------
>>> from activekit import ActiveLearningClassifier
>>> ActiveLearningClassifier(query_strategy="entropy", batch_size=5)
ActiveLearningClassifier(batch_size=5, query_strategy='entropy')
"""

from . import evaluation, stopping, strategies
from ._learner import ActiveLearningClassifier
from ._regressor import ActiveLearningRegressor
from .strategies import get_strategy_names

__all__ = [
    "ActiveLearningClassifier",
    "ActiveLearningRegressor",
    "__version__",
    "evaluation",
    "get_strategy_names",
    "stopping",
    "strategies",
]

__version__ = "0.1.0"
