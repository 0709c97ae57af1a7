"""PyTorch modules in active learning (extra ``torch``: ``pip install "activekit[torch]"``).

:class:`~activekit.ActiveLearningClassifier` takes a ``torch.nn.Module`` class or instance, a
skorch net, or a :class:`TorchClassifier` as its estimator;
:class:`~activekit.ActiveLearningRegressor` takes a module, a skorch net or a
:class:`TorchRegressor` (a bare module is wrapped in the one that fits the learner). With a
torch estimator the distance-based strategies measure in the module's penultimate layer
(:func:`embed`), ``expected_gradient_length`` uses per-example gradients of every parameter and
``badge`` the gradients of the last layer; :func:`mc_dropout_proba` draws the posterior samples
the Bayesian strategies score.

This module imports torch and skorch (``import activekit`` alone never does); without them,
importing it raises an ImportError that says what to install. Inside the package, ``torch``
always means the real torch: every import there is absolute.

Examples
--------
>>> import torch
>>> from sklearn.datasets import load_digits
>>> from activekit import ActiveLearningClassifier
>>> X, y = load_digits(return_X_y=True)
>>> X = X / 16.0
>>> module = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
...                              torch.nn.Dropout(0.2), torch.nn.Linear(32, 10))
>>> learner = ActiveLearningClassifier(module, query_strategy="coreset", random_state=0)
>>> learner = learner.set_params(estimator__max_epochs=10)
>>> learner = learner.fit(X[:100], y[:100])
>>> learner.query(X[100:], n_instances=5).shape     # picked in the 32-d hidden space
(5,)
"""

from ._torch import TorchClassifier, TorchRegressor
from ._torch_inference import embed, mc_dropout_proba

__all__ = ["TorchClassifier", "TorchRegressor", "embed", "mc_dropout_proba"]
