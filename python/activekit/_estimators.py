"""A learner's ``estimator`` parameter: what it may be, and the estimator it stands for.

The one place where torch objects given as a learner's ``estimator`` are recognised and routed;
the learners call these functions and hold no torch logic of their own. torch is never
imported here: an object of a torch class can only exist once torch has been imported.

- A bare ``torch.nn.Module`` class or instance stands for the net that :func:`wrap` puts
  around it: a :class:`activekit.torch.TorchClassifier` for a classifier
  (``kind="classifier"``), a :class:`activekit.torch.TorchRegressor` for a regressor
  (``kind="regressor"``); each learner names its kind in its ``_module_kind`` attribute. The
  net's parameters are routed by prefix, the skorch way: the learner's
  ``get_params(deep=True)`` shows them as ``estimator__lr``, ``estimator__max_epochs``,
  ``estimator__module__<arg>``, ... (:func:`wrapped_params`), and the first ``set_params``
  that sets one replaces ``estimator`` by that net (:func:`route_set_params`). Giving
  ``TorchClassifier(Module)`` (or ``TorchRegressor(Module)``) explicitly is the same thing,
  without the replacement.
- A bare module or a skorch net (``TorchClassifier`` and ``TorchRegressor`` included) is
  handed rows as float32 (:func:`input_dtype`), what torch modules compute in.
- A skorch net whose ``random_state`` is ``None`` gets a seed drawn from the learner's
  ``random_state`` (:func:`seeded`); one given a ``random_state`` keeps it.
- Anything else (a scikit-learn estimator, a ``Pipeline``) is used as it is.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from ._dependencies import is_skorch_net, is_torch_module
from ._random import draw_seed

__all__ = ["input_dtype", "resolve", "route_set_params", "seeded", "wrap", "wrapped_params"]

_PREFIX = "estimator__"

#: The kinds of learner a bare torch module can be wrapped for (see :func:`wrap`).
KINDS = ("classifier", "regressor")


def resolve(estimator, default, kind="classifier"):
    """The estimator a learner's ``estimator`` parameter stands for: ``default()`` for
    ``None``, else :func:`wrap` of it for a learner of ``kind`` (not cloned).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit._estimators import resolve
    >>> resolve(None, lambda: LogisticRegression(max_iter=1000))
    LogisticRegression(max_iter=1000)
    """
    if estimator is None:
        return default()
    return wrap(estimator, kind)


def wrap(estimator, kind="classifier"):
    """The estimator ``estimator`` stands for in a learner of ``kind``: around a bare
    ``torch.nn.Module`` class or instance, a :class:`~activekit.torch.TorchClassifier`
    (``kind="classifier"``) or a :class:`~activekit.torch.TorchRegressor`
    (``kind="regressor"``); anything else as it is.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit._estimators import wrap
    >>> wrap(LogisticRegression())
    LogisticRegression()
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    if is_torch_module(estimator):
        from ._torch import wrap_module  # torch is imported already: a module exists

        return wrap_module(estimator, kind)
    return estimator


def input_dtype(estimator):
    """The dtype a learner validates rows as for ``estimator``: float32 for a bare torch
    module or a skorch net, else ``None`` (scikit-learn's default).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit._estimators import input_dtype
    >>> input_dtype(LogisticRegression()) is None
    True
    """
    if is_torch_module(estimator) or is_skorch_net(estimator):
        return np.float32
    return None


def seeded(estimator, random_state):
    """``estimator`` (a fresh clone) with a seed from ``random_state`` where it is a skorch
    net whose own ``random_state`` is ``None``: weights, shuffling and dropout then follow
    the learner's ``random_state`` (a ``TorchClassifier`` or ``TorchRegressor`` seeds a
    private fork of torch's generator with it). Anything else is returned unchanged.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit._estimators import seeded
    >>> seeded(LogisticRegression(), 0).random_state is None
    True
    """
    if (
        is_skorch_net(estimator)
        and getattr(estimator, "random_state", "absent") is None
        and random_state is not None
    ):
        seed = draw_seed(check_random_state(random_state))
        estimator.set_params(random_state=int(seed))
    return estimator


def wrapped_params(estimator, kind="classifier"):
    """The ``estimator__*`` parameters a learner of ``kind`` shows for ``estimator`` beyond
    scikit-learn's own ``get_params``: those of the net a bare torch module is wrapped in, so
    that ``set_params`` and grid search reach them; ``{}`` for anything else.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit._estimators import wrapped_params
    >>> wrapped_params(LogisticRegression())
    {}
    """
    if not is_torch_module(estimator):
        return {}
    net = wrap(estimator, kind)
    return {
        f"{_PREFIX}{key}": value
        for key, value in net.get_params(deep=True).items()
        if not key.startswith("_")
    }


def route_set_params(current, params, kind="classifier"):
    """``params`` for the ``set_params`` of a learner of ``kind``, whose estimator is now
    ``current``: where ``estimator__*`` keys reach into a bare torch module (given in
    ``params`` or already held), ``estimator`` becomes the net wrapping it (:func:`wrap`),
    whose own parameters then take them.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from activekit._estimators import route_set_params
    >>> route_set_params(LogisticRegression(), {"estimator__C": 2.0})
    {'estimator__C': 2.0}
    """
    if any(key.startswith(_PREFIX) for key in params):
        target = params.get("estimator", current)
        if is_torch_module(target):
            params = {**params, "estimator": wrap(target, kind)}
    return params
