"""PyTorch modules as scikit-learn classifiers and regressors, through skorch.

Imported lazily (``import activekit`` never imports torch); without torch or skorch, importing
it (or :mod:`activekit._torch_inference`, which imports it) raises an ImportError that says to
install ``activekit[torch]``. The public names are re-exported by :mod:`activekit.torch`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.sparse as sp

from ._dependencies import import_optional

torch = import_optional("torch", extra="torch")
import_optional("skorch", extra="torch")

from skorch import (  # noqa: E402
    NeuralNet,  # noqa: F401 (for _torch_inference)
    NeuralNetClassifier,
    NeuralNetRegressor,
)
from skorch.utils import is_dataset  # noqa: E402

__all__ = ["TorchClassifier", "TorchRegressor", "wrap_module"]


# -- randomness and inputs -------------------------------------------------------------------


def _cuda_index(device):
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return device.index if device.index is not None else torch.cuda.current_device()


@contextlib.contextmanager
def _seeded(random_state, device="cpu"):
    """Run the block on torch's global generator (``random_state=None``, as torch itself
    does), or on a private fork of it seeded from ``random_state``: the global generator's
    state is then the same after the block as before."""
    if random_state is None:
        yield
        return
    from ._kernels import seed_from

    seed = seed_from(random_state)
    index = _cuda_index(device)
    with torch.random.fork_rng(devices=[] if index is None else [index]):
        torch.default_generator.manual_seed(seed)
        if index is not None:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def _first(out):
    """The first output of a module that returns several (skorch's convention)."""
    return out[0] if isinstance(out, tuple | list) else out


def _float_dtype(module):
    """The dtype of the module's first floating-point parameter (float32 without one)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _device(module):
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def _as_module_input(X, dtype, device=None):
    """Numbers as the module's float dtype: an array (or sparse matrix, densified) becomes a
    tensor of ``dtype``, a floating tensor is cast; an integer tensor (token ids) is left as it
    is. With ``device``, the result is a tensor there; without, arrays stay NumPy arrays."""
    if isinstance(X, torch.Tensor):
        X = X.to(dtype) if X.is_floating_point() else X
        return X if device is None else X.to(device)
    if sp.issparse(X):
        X = X.toarray()
    X = np.asarray(X, dtype=torch.empty((), dtype=dtype).numpy().dtype)
    return X if device is None else torch.as_tensor(X, device=device)


# -- what the classifier and the regressor share ----------------------------------------------


class _ActiveKitNet:
    """What :class:`TorchClassifier` and :class:`TorchRegressor` add to their skorch net
    (put first in the bases): ``fit`` seeded by ``random_state``, rows in the module's float
    dtype, targets as the subclass's ``_as_targets`` makes them, and prediction passes that
    leave torch's global generator alone. The subclass stores ``random_state`` and
    ``embedding_layer`` in its ``__init__``."""

    def fit(self, X, y, **fit_params):
        """Initialise and train the module on ``(X, y)``; see skorch's ``NeuralNet.fit``.

        Returns
        -------
        self : object
            The fitted net.
        """
        if isinstance(y, list | tuple):
            y = np.asarray(y)
        with _seeded(self.random_state, self.device):
            return super().fit(X, y, **fit_params)

    def get_iterator(self, dataset, training=False):
        """skorch's data loader; for prediction, one that draws its base seed from a private
        generator: a DataLoader draws one from torch's global generator at every pass, even in
        order and in-process, so predicting would move it."""
        iterator = super().get_iterator(dataset, training=training)
        if (
            not training
            and isinstance(iterator, torch.utils.data.DataLoader)
            and iterator.generator is None
        ):
            iterator.generator = torch.Generator()
        return iterator

    def get_dataset(self, X, y=None):
        """skorch's dataset of ``X`` in the module's dtype and ``y`` as the loss takes it."""
        if not is_dataset(X):
            X = self._as_inputs(X)
            if y is not None:
                y = self._as_targets(y)
        return super().get_dataset(X, y)

    def _module_dtype(self):
        return _float_dtype(self.module_) if hasattr(self, "module_") else torch.float32

    def _as_inputs(self, X):
        if isinstance(X, dict | list | tuple):
            return X
        return _as_module_input(X, self._module_dtype())

    def _as_targets(self, y):
        raise NotImplementedError


def _numpy(y):
    return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)


# -- the estimators --------------------------------------------------------------------------


class TorchClassifier(_ActiveKitNet, NeuralNetClassifier):
    """A skorch ``NeuralNetClassifier`` that takes scikit-learn data as it comes.

    What :class:`~activekit.ActiveLearningClassifier` wraps a bare ``torch.nn.Module`` class or
    instance in. Everything skorch offers is there (``module__*``, ``optimizer__*``,
    ``lr``, ``max_epochs``, ``batch_size``, ``device``, callbacks, ``set_params``), with five
    changes for a loop that refits on a few labelled rows:

    - ``X`` is converted to the module's float dtype (float32 unless the module is double) and
      labels of any kind are encoded: output unit ``j`` of the module is the class
      ``classes_[j]``, where ``classes_`` is ``classes`` if given, else the sorted labels
      seen in ``fit``. ``predict`` returns labels, not unit indices. The module must return
      ``len(classes_)`` scores per row, else ``fit`` says so at the first batch.
    - The module returns logits: the default criterion is ``torch.nn.CrossEntropyLoss``, and
      ``predict_proba`` applies the softmax (skorch's ``predict_nonlinearity="auto"``).
    - ``train_split=None``: no validation split taken from the labelled set, which is small
      and was paid for; ``verbose=0``: no table per fit.
    - Training that learns from tens of rows: Adam, ``lr=0.01``, 30 epochs of batches of 64,
      where skorch's SGD defaults leave a small network trained on 30 rows at chance
      (measured in ``docs/learner.md``).
    - ``random_state``: an int (or ``RandomState``) makes ``fit`` deterministic, weights,
      shuffling and dropout, by running it on a private fork of torch's generator seeded from
      it; torch's global generator is left as it was. ``None`` uses torch's global generator,
      as skorch does. :class:`~activekit.ActiveLearningClassifier` sets it from its own
      ``random_state`` when it is ``None``.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        Returns ``(n, n_classes)`` logits for ``(n, ...)`` inputs. A class is instantiated
        with the ``module__*`` parameters at every fit; an instance is trained as it is (the
        learner fits a deep copy, so every round starts from its weights).
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=0.01
    max_epochs : int, default=30
    batch_size : int, default=64
    train_split : callable or None, default=None
    classes : array-like or None, default=None
        The class of each output unit; needed when the labelled set may lack some classes
        the module has units for.
    verbose : int, default=0
    random_state : int, RandomState instance or None, default=None
    embedding_layer : str or None, default=None
        The layer whose *input* distance-based strategies measure in (a name from
        ``module.named_modules()``, e.g. ``"head"`` or ``"layers.2"``), flattened per row.
        ``None``: the last ``torch.nn.Linear`` registered in the module, i.e. the
        penultimate-layer output of a usual network.
    **kwargs
        Any other skorch ``NeuralNet`` parameter (``module__hidden=32``, ``device="cuda"``,
        ``callbacks=[...]``, ``optimizer__weight_decay=1e-4``, ...).

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from activekit.torch import TorchClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> net = TorchClassifier(torch.nn.Linear, module__in_features=4, module__out_features=3,
    ...                       max_epochs=50, lr=0.1, random_state=0)
    >>> net = net.fit(X, y)        # float64 X and int64 y as they come
    >>> net.predict(X[:3]).tolist(), net.predict_proba(X[:3]).shape
    ([0, 0, 0], (3, 3))
    """

    def __init__(
        self,
        module,
        *,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=30,
        batch_size=64,
        train_split=None,
        classes=None,
        verbose=0,
        random_state=None,
        embedding_layer=None,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            classes=classes,
            verbose=verbose,
            **kwargs,
        )
        self.random_state = random_state
        self.embedding_layer = embedding_layer

    def _as_targets(self, y):
        """Labels as unit indices (int64)."""
        y = _numpy(y)
        classes = np.asarray(self.classes_)
        sorter = np.argsort(classes, kind="stable")
        pos = np.clip(np.searchsorted(classes, y, sorter=sorter), 0, len(classes) - 1)
        codes = sorter[pos]
        unknown = classes[codes] != y
        if np.any(unknown):
            raise ValueError(
                f"y has labels {np.unique(y[unknown]).tolist()} that are not in "
                f"classes={classes.tolist()}"
            )
        return codes.astype(np.int64)

    def get_loss(self, y_pred, y_true, *args, **kwargs):
        """skorch's loss, after checking that the module returns one score per class."""
        if isinstance(y_pred, torch.Tensor):
            n_classes = len(self.classes_)
            if y_pred.ndim != 2 or y_pred.shape[1] != n_classes:
                raise ValueError(
                    f"the module returns scores of shape {tuple(y_pred.shape)} for a batch, but "
                    f"there are {n_classes} classes {np.asarray(self.classes_).tolist()}: it must "
                    f"return (batch, {n_classes}) logits. If the labelled set lacks classes the "
                    "module has units for, give them all with classes=[...] "
                    "(estimator__classes in a learner)"
                )
        return super().get_loss(y_pred, y_true, *args, **kwargs)

    def predict(self, X):
        """Class labels (``classes_[argmax]`` of the probabilities)."""
        return np.asarray(self.classes_)[self.predict_proba(X).argmax(axis=1)]


class TorchRegressor(_ActiveKitNet, NeuralNetRegressor):
    """A skorch ``NeuralNetRegressor`` that takes scikit-learn data as it comes.

    What :class:`~activekit.ActiveLearningRegressor` wraps a bare ``torch.nn.Module`` class or
    instance in; the regression twin of :class:`TorchClassifier`, with the same training
    defaults, seeding and parameters (``module__*``, ``optimizer__*``, ``lr``,
    ``max_epochs``, ``batch_size``, ``device``, callbacks, ``set_params``). What differs:

    - ``y`` is a 1-D vector of numbers, as scikit-learn regressors take it (or a
      ``(n, n_targets)`` matrix), converted to the module's float dtype (float32 unless the
      module is double); a 1-D ``y`` is fitted as one column. The module returns ``(batch,
      n_targets)`` outputs, ``(batch, 1)`` for a 1-D ``y``, else ``fit`` says so at the first
      batch; ``predict`` returns them as they are, but a single column comes back 1-D,
      ``(n,)``.
    - The default criterion is ``torch.nn.MSELoss``; ``predict`` applies no nonlinearity.
    - ``score`` is R^2 (scikit-learn's ``RegressorMixin``).

    Networks learn faster on targets of unit scale: standardise ``y`` (and ``X``) when its
    values are large.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        Returns ``(n, 1)`` outputs for ``(n, ...)`` inputs (``(n, n_targets)`` for a 2-D
        ``y``). A class is instantiated with the ``module__*`` parameters at every fit; an
        instance is trained as it is (the learner fits a deep copy, so every round starts
        from its weights).
    criterion : torch loss class, default=torch.nn.MSELoss
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=0.01
    max_epochs : int, default=30
    batch_size : int, default=64
    train_split : callable or None, default=None
    verbose : int, default=0
    random_state : int, RandomState instance or None, default=None
        As in :class:`TorchClassifier`: an int makes ``fit`` deterministic on a private fork
        of torch's generator; ``None`` uses torch's global generator.
        :class:`~activekit.ActiveLearningRegressor` sets it from its own ``random_state``
        when it is ``None``.
    embedding_layer : str or None, default=None
        The layer whose *input* distance-based strategies (``gsx``, ``igs``, ``emcm``,
        ``coreset``, ...) measure in; ``None``: the last ``torch.nn.Linear``, i.e. the
        penultimate-layer output of a usual network.
    **kwargs
        Any other skorch ``NeuralNet`` parameter (``module__hidden=32``, ``device="cuda"``,
        ``callbacks=[...]``, ``optimizer__weight_decay=1e-4``, ...).

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import make_regression
    >>> from activekit.torch import TorchRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    >>> y = y / y.std()                      # unit scale: what networks learn fastest
    >>> module = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(),
    ...                              torch.nn.Linear(16, 1))
    >>> net = TorchRegressor(module, max_epochs=40, random_state=0).fit(X, y)  # 1-D float64 y
    >>> net.predict(X[:3]).shape, net.predict(X).dtype, bool(net.score(X, y) > 0.9)
    ((3,), dtype('float32'), True)
    """

    def __init__(
        self,
        module,
        *,
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=30,
        batch_size=64,
        train_split=None,
        verbose=0,
        random_state=None,
        embedding_layer=None,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            verbose=verbose,
            **kwargs,
        )
        self.random_state = random_state
        self.embedding_layer = embedding_layer

    def _as_targets(self, y):
        """Targets in the module's float dtype, a 1-D vector as one column."""
        if isinstance(y, torch.Tensor):
            y = y.to(self._module_dtype())
        else:
            y = _as_module_input(y, self._module_dtype())
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def get_loss(self, y_pred, y_true, *args, **kwargs):
        """skorch's loss, after checking that the module returns one output per target (a
        mismatch would otherwise be broadcast by the loss into a meaningless number)."""
        if isinstance(y_pred, torch.Tensor) and isinstance(y_true, torch.Tensor):
            if y_pred.shape != y_true.shape:
                n_targets = y_true.shape[1] if y_true.ndim == 2 else 1
                raise ValueError(
                    f"the module returns outputs of shape {tuple(y_pred.shape)} for a batch "
                    f"whose targets have shape {tuple(y_true.shape)}: a regressor's module must "
                    f"return (batch, {n_targets}) outputs, one per target (a 1-D y is one "
                    "target)"
                )
        return super().get_loss(y_pred, y_true, *args, **kwargs)

    def predict(self, X):
        """The module's outputs; 1-D, ``(n,)``, where it returns a single column."""
        out = super().predict(X)
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out


#: What a learner's kind of target wraps a bare module in.
_WRAPPERS = {"classifier": TorchClassifier, "regressor": TorchRegressor}


def wrap_module(module, kind="classifier"):
    """A :class:`TorchClassifier` (``kind="classifier"``) or :class:`TorchRegressor`
    (``kind="regressor"``) around a ``torch.nn.Module`` class or instance, with every other
    parameter at its default: what a learner given a bare module fits (called only by
    :func:`activekit._estimators.wrap`, which also routes ``estimator__*`` parameters to
    it)."""
    try:
        wrapper = _WRAPPERS[kind]
    except KeyError:
        raise ValueError(f"kind must be one of {sorted(_WRAPPERS)}, got {kind!r}") from None
    return wrapper(module)
