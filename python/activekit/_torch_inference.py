"""What the strategies need from a trained torch module: MC-dropout samples, a layer's
embedding, per-example gradients of every parameter, BADGE's last-layer gradient embedding.

Batched inference on the module of a fitted skorch net (a learner's ``TorchClassifier``),
without gradients (but for ``torch.func``'s own), every submodule's mode restored afterwards.
Importing it imports :mod:`activekit._torch`, and so needs the ``torch`` extra.
"""

from __future__ import annotations

import contextlib
from functools import partial
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

# Through activekit._torch, whose import says what to install when torch or skorch is missing.
from ._torch import NeuralNet, _as_module_input, _device, _first, _float_dtype, _seeded, torch

__all__ = [
    "embed",
    "expected_gradient_lengths",
    "gradient_embedding",
    "gradient_factors",
    "has_dropout",
    "mc_dropout_proba",
]

#: The layers MC dropout switches to training mode (everything else stays in eval mode).
_DROPOUT = (
    torch.nn.Dropout,
    torch.nn.Dropout1d,
    torch.nn.Dropout2d,
    torch.nn.Dropout3d,
    torch.nn.AlphaDropout,
    torch.nn.FeatureAlphaDropout,
)


# -- inputs and module state -----------------------------------------------------------------


@contextlib.contextmanager
def _inference(module, dropout=False):
    """Eval mode (dropout layers alone in training mode with ``dropout``), no gradients; every
    submodule's mode is restored afterwards, whatever it was."""
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        if dropout:
            for m in module.modules():
                if isinstance(m, _DROPOUT):
                    m.train()
        with torch.no_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode


#: Rows per forward pass of the inference helpers when neither the caller nor the net's
#: ``iterator_valid__batch_size`` says: large, since per-call overhead dominates small batches.
_INFERENCE_BATCH = 1024


def _batch_rows(batch_size, n, net):
    if batch_size is None:
        batch_size = getattr(net, "iterator_valid__batch_size", None) or _INFERENCE_BATCH
    if batch_size <= 0:  # skorch's -1: everything at once
        return max(n, 1)
    return int(batch_size)


def _batches(net, X, batch_size=None):
    """``X`` (array-like, sparse matrix or tensor) in batches of tensors on the module's device
    and in its dtype. A pool of no rows gives one empty batch."""
    module = net.module_
    dtype, device = _float_dtype(module), _device(module)
    if sp.issparse(X):
        X = X.tocsr()
    elif not isinstance(X, torch.Tensor):
        X = np.asarray(X)
    n = X.shape[0]
    step = _batch_rows(batch_size, n, net)
    for start in range(0, max(n, 1), step):
        yield _as_module_input(X[start : start + step], dtype, device)


def _fitted_net(estimator, X, what):
    """The fitted skorch net behind ``estimator`` and ``X`` taken through the steps of a
    Pipeline before it."""
    if isinstance(estimator, Pipeline):
        if len(estimator) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    if not isinstance(estimator, NeuralNet):
        raise TypeError(
            f"{what} needs a fitted skorch net (activekit.torch.TorchClassifier, "
            "TorchRegressor or any skorch NeuralNet) or a Pipeline ending in one, got "
            f"{type(estimator).__name__}"
        )
    if not getattr(estimator, "initialized_", False):
        raise NotFittedError(
            f"This {type(estimator).__name__} is not fitted yet; call fit before {what}"
        )
    return estimator, X


def _check_int(value, name, low=1):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_batch_size(batch_size):
    if batch_size is None:
        return None
    return _check_int(batch_size, "batch_size")


# -- what strategies need from a fitted net --------------------------------------------------


def has_dropout(module):
    """Whether ``module`` has a dropout layer with ``p > 0``, which MC dropout samples from."""
    return any(isinstance(m, _DROPOUT) and getattr(m, "p", 0) > 0 for m in module.modules())


def mc_dropout_proba(estimator, X, n_samples=20, random_state=None, batch_size=None):
    """Class probabilities from ``n_samples`` stochastic forward passes with dropout on
    (Monte Carlo dropout; Gal and Ghahramani 2016).

    Only the dropout layers (``torch.nn.Dropout``, ``Dropout1d/2d/3d``, ``AlphaDropout``,
    ``FeatureAlphaDropout``) are put in training mode; everything else, BatchNorm included,
    stays in eval mode, so the passes differ by their dropout masks alone and no running
    statistic moves. No gradients are recorded, and every submodule's mode is restored
    afterwards. The Bayesian strategies (BALD, BatchBALD, mean std, variation ratio) build on
    this function.

    Parameters
    ----------
    estimator : fitted skorch net or Pipeline ending in one
        A :class:`TorchClassifier` or ``skorch.NeuralNetClassifier`` (e.g. a learner's
        ``estimator_``); in a Pipeline, ``X`` first goes through the earlier steps.
        Probabilities are the module's outputs through the net's ``predict_proba``
        nonlinearity (the softmax of logits for a cross-entropy criterion).
    X : array-like, sparse matrix or tensor of shape (n_samples_X, ...)
    n_samples : int, default=20
        Stochastic passes ``T``.
    random_state : int, RandomState instance or None, default=None
        An int gives the same samples at every call and leaves torch's global generator as it
        was (the masks are drawn from a private, seeded fork of it). ``None`` draws them from
        torch's global generator, as torch does.
    batch_size : int or None, default=None
        Rows per forward pass; ``None`` is the net's ``iterator_valid__batch_size`` (skorch's
        batch size for prediction) if set, else 1024. The samples for a seed depend on it
        (masks are drawn batch after batch).

    Returns
    -------
    probas : ndarray of shape (n_samples, n_samples_X, n_classes)
        ``probas[t, i]`` is row ``i``'s class distribution under pass ``t``; in the module's
        dtype (float32 for a float32 module).

    Raises
    ------
    ValueError
        If the module has no dropout layer with ``p > 0``: its passes would all agree and
        every Bayesian disagreement score (BALD) would be identically zero.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from activekit.torch import TorchClassifier, mc_dropout_proba
    >>> X, y = load_iris(return_X_y=True)
    >>> module = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
    ...                              torch.nn.Dropout(0.5), torch.nn.Linear(16, 3))
    >>> net = TorchClassifier(module, max_epochs=5, random_state=0).fit(X, y)
    >>> probas = mc_dropout_proba(net, X[:4], n_samples=8, random_state=0)
    >>> probas.shape
    (8, 4, 3)
    >>> bool((probas == mc_dropout_proba(net, X[:4], n_samples=8, random_state=0)).all())
    True
    """
    net, X = _fitted_net(estimator, X, "mc_dropout_proba")
    n_samples = _check_int(n_samples, "n_samples")
    batch_size = _check_batch_size(batch_size)
    module = net.module_
    if not has_dropout(module):
        raise ValueError(
            f"mc_dropout_proba needs a module with a dropout layer (torch.nn.Dropout and "
            f"kin, p > 0) to sample from; {type(module).__name__} has none, so its "
            f"{n_samples} passes would agree and its BALD would be identically zero. Add "
            "dropout to the module, or use a strategy that needs no posterior samples"
        )
    nonlin = net._get_predict_nonlinearity()
    chunks = []
    with _seeded(random_state, _device(module)), _inference(module, dropout=True):
        for x in _batches(net, X, batch_size):
            passes = [nonlin(_first(module(x))) for _ in range(n_samples)]
            chunks.append(torch.stack(passes).cpu().numpy())
    return np.concatenate(chunks, axis=1)


def _find_layer(module, layer):
    if layer is None:
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ValueError(
                f"{type(module).__name__} has no torch.nn.Linear layer, whose input is the "
                "default embedding; name the layer to embed at with embedding_layer=<name>, "
                f"one of {[n for n, _ in module.named_modules() if n]}"
            )
        return linears[-1]
    if isinstance(layer, str):
        named = dict(module.named_modules())
        if layer not in named or not layer:
            raise ValueError(
                f"embedding_layer={layer!r} is not a layer of {type(module).__name__}; its "
                f"layers are {[n for n in named if n]}"
            )
        return named[layer]
    raise TypeError(
        f"embedding_layer must be None or a layer name (str), got {type(layer).__name__}"
    )


def _forward_capturing(module, layer, x):
    """The module's output on ``x`` and the input the layer received, flattened per row."""
    seen = []

    def hook(_, args):
        seen.append(args[0])

    handle = layer.register_forward_pre_hook(hook)
    try:
        out = _first(module(x))
    finally:
        handle.remove()
    if len(seen) != 1:
        raise ValueError(
            f"the embedding layer {type(layer).__name__} ran {len(seen)} times in one forward "
            "pass; embed at a layer that runs exactly once"
        )
    return out, seen[0].reshape(len(x), -1)


def embed(estimator, X, layer=None, batch_size=None):
    """The input a layer of the net's module receives, one flattened row per row of ``X``.

    By default the input of the last ``torch.nn.Linear`` registered in the module: the
    penultimate-layer output of a usual network, the space distance-based strategies
    (coreset, ranked_batch, kmeans, typiclust, cluster_margin, information_density) measure
    in when the learner wraps a torch module and their ``embedding`` is ``None``. Batched, in
    eval mode, without gradients, every submodule's mode restored; the layer is found with a
    forward pre-hook, removed afterwards.

    Parameters
    ----------
    estimator : fitted skorch net or Pipeline ending in one
    X : array-like, sparse matrix or tensor of shape (n_samples, ...)
    layer : str or None, default=None
        A name from ``module.named_modules()``; ``None`` is the net's ``embedding_layer``
        (:class:`TorchClassifier`), else the last ``torch.nn.Linear``.
    batch_size : int or None, default=None
        Rows per forward pass; ``None`` is the net's ``iterator_valid__batch_size`` if set,
        else 1024.

    Returns
    -------
    embedding : ndarray of shape (n_samples, n_dims)

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from activekit.torch import TorchClassifier, embed
    >>> X, y = load_iris(return_X_y=True)
    >>> module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
    ...                              torch.nn.Linear(8, 3))
    >>> net = TorchClassifier(module, max_epochs=2, random_state=0).fit(X, y)
    >>> embed(net, X).shape, embed(net, X, layer="1").shape
    ((150, 8), (150, 8))
    """
    net, X = _fitted_net(estimator, X, "embed")
    batch_size = _check_batch_size(batch_size)
    module = net.module_
    if layer is None:
        layer = getattr(net, "embedding_layer", None)
    target = _find_layer(module, layer)
    parts = []
    with _inference(module):
        for x in _batches(net, X, batch_size):
            parts.append(_forward_capturing(module, target, x)[1].cpu().numpy())
    return np.concatenate(parts)


def _log_proba(net):
    """Module outputs -> log class probabilities, as the net's predict_proba defines them."""
    if net.predict_nonlinearity == "auto" and isinstance(
        getattr(net, "criterion_", None), torch.nn.CrossEntropyLoss
    ):
        return partial(torch.log_softmax, dim=-1)
    nonlin = net._get_predict_nonlinearity()
    return lambda out: torch.log(nonlin(out).clamp_min(torch.finfo(out.dtype).tiny))


def expected_gradient_lengths(net, X, batch_size=None):
    """Expected norm, over labels ``y ~ p(y|x)``, of the per-example log-loss gradient with
    respect to every trainable parameter of the net's module, for every row of ``X``.

    Per-example gradients come from ``torch.func`` (``vmap`` of ``grad`` over a
    ``functional_call``), one class at a time, a batch of rows at a time; the module runs in
    eval mode (dropout off, BatchNorm on its running statistics), as in ``predict_proba``.

    Returns
    -------
    lengths : ndarray of shape (n_samples,), float64
    """
    net, X = _fitted_net(net, X, "expected_gradient_length")
    module = net.module_
    params = {k: p.detach() for k, p in module.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError(
            f"expected_gradient_length needs trainable parameters; every parameter of "
            f"{type(module).__name__} has requires_grad=False"
        )
    buffers = {k: b.detach() for k, b in module.named_buffers()}
    log_proba = _log_proba(net)

    def loss(theta, x, label):
        out = _first(torch.func.functional_call(module, (theta, buffers), (x.unsqueeze(0),)))
        return -log_proba(out)[0, label]

    per_example = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, None))
    nonlin = net._get_predict_nonlinearity()
    lengths = []
    with _inference(module):
        for x in _batches(net, X, batch_size):
            if len(x) == 0:
                continue
            probs = nonlin(_first(module(x))).double()
            norms = torch.zeros_like(probs)
            for c in range(probs.shape[1]):
                grads = per_example(params, x, c)
                # One norm per parameter tensor (vector_norm reads it once, without a squared
                # copy), their squares summed in float64.
                sq = sum(
                    torch.linalg.vector_norm(g.flatten(1), dim=1).double() ** 2
                    for g in grads.values()
                )
                norms[:, c] = sq.sqrt()
            lengths.append((probs * norms).sum(1).cpu().numpy())
    return np.concatenate(lengths) if lengths else np.empty(0)


def gradient_factors(net, X, batch_size=None):
    """The two factors of BADGE's gradient embeddings, ``a = p - e_yhat`` and ``h``.

    ``h`` is the input of the last ``torch.nn.Linear`` (the output layer), ``p`` the predicted
    probabilities, ``yhat`` their argmax. The embedding of a row is ``a outer [h, 1]`` (the
    ``1`` when the layer has a bias): the gradient of the cross-entropy at the predicted label
    with respect to the output layer's weights (and bias).

    Returns
    -------
    a : ndarray of shape (n_samples, n_classes), float64
    h : ndarray of shape (n_samples, n_hidden), the module's dtype
    intercept : bool
        Whether the output layer has a bias.
    """
    net, X = _fitted_net(net, X, "badge")
    module = net.module_
    layer = _find_layer(module, None)
    nonlin = net._get_predict_nonlinearity()
    a_parts, h_parts = [], []
    with _inference(module):
        for x in _batches(net, X, batch_size):
            out, h = _forward_capturing(module, layer, x)
            p = nonlin(out)
            if p.ndim != 2 or p.shape[1] != layer.out_features:
                raise ValueError(
                    f"badge needs the last torch.nn.Linear of {type(module).__name__} to be its "
                    f"output layer, but it has {layer.out_features} outputs and the module "
                    f"returns scores of shape {tuple(p.shape)}"
                )
            a = p.to(torch.float64)
            a[torch.arange(len(a)), p.argmax(dim=1)] -= 1.0
            a_parts.append(a.cpu().numpy())
            h_parts.append(h.reshape(len(h), -1).cpu().numpy())
    return np.concatenate(a_parts), np.concatenate(h_parts), layer.bias is not None


def gradient_embedding(net, X, batch_size=None):
    """BADGE's gradient embeddings: ``(p - e_yhat) outer [h, 1]`` per row, flattened (see
    :func:`gradient_factors`).

    Returns
    -------
    embedding : ndarray of shape (n_samples, n_classes * (n_hidden + bias))
    """
    a, h, intercept = gradient_factors(net, X, batch_size)
    if intercept:
        h = np.hstack([h, np.ones((len(h), 1), dtype=h.dtype)])
    return (a[:, :, None] * h[:, None, :]).reshape(len(a), -1).astype(h.dtype, copy=False)
