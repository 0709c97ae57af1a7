"""Where a kernel runs: Rust on NumPy arrays, or its torch twin on a device.

:mod:`activekit._kernels` asks :func:`route` about the inputs of every call and gets one of the
two backends of :mod:`activekit._backends`:

1. an input is a torch tensor on a non-CPU device: the torch backend on that device (other
   inputs are moved there), whose results are torch tensors on it;
2. otherwise, inside a device scope (``ActiveLearningClassifier(device="cuda")`` opens one
   around the strategy's work in every query): the torch backend on the scope's device; the
   inputs move there, a matrix of rows (pool, centres, references) once per scope, and the
   results come back as NumPy;
3. otherwise: the Rust backend on NumPy (CPU tensors are viewed as NumPy arrays).

Nothing here imports torch until a tensor or a scope is involved: ``import activekit`` never
does.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import sys
import types

from . import _backends
from ._dependencies import import_optional

__all__ = ["check_device", "device_scope", "route", "torch_scope"]

_DEVICE = re.compile(r"cuda(?::(\d+))?")
_SCOPE = contextvars.ContextVar("activekit_device_scope", default=None)
# Private testing hook: see _target_for_testing.
_TEST_TARGET = contextvars.ContextVar("activekit_test_target", default=None)


def _torch():
    return import_optional("torch", extra="torch")


def check_device(device):
    """Check a learner's ``device``: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` with a usable GPU.

    Raises ``ValueError`` for another string, for a CUDA device when torch sees none and for an
    index out of range, and ``ImportError`` (saying what to install) when torch is missing.

    Examples
    --------
    >>> from activekit._device import check_device
    >>> check_device("cpu")
    >>> check_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device must be 'cpu', 'cuda' or 'cuda:N' (N a CUDA device index), got 'gpu'
    """
    if isinstance(device, str) and device == "cpu":
        return
    match = _DEVICE.fullmatch(device) if isinstance(device, str) else None
    if match is None:
        raise ValueError(
            f"device must be 'cpu', 'cuda' or 'cuda:N' (N a CUDA device index), got {device!r}"
        )
    torch = _torch()
    if _TEST_TARGET.get() is not None:
        return
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise ValueError(
            f"device={device!r} needs a CUDA device, but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, {build}); use device='cpu'"
        )
    if match.group(1) is not None:
        count = torch.cuda.device_count()
        if int(match.group(1)) >= count:
            raise ValueError(
                f"device={device!r} is out of range: torch sees {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}"
            )


class DeviceScope:
    """Kernel calls inside the scope run on ``device``; each matrix of rows moves there once.

    A matrix of rows (a pool, centres, references) is recognised by identity: the first call
    that receives a NumPy array moves it, later calls in the scope reuse the tensor, so a
    strategy must not write into such an array during a query (none does). Probabilities,
    votes and scores, which strategies may rewrite between calls, move on every call.

    Attributes
    ----------
    device : torch.device
    moves : list of tuple
        ``(shape, dtype)`` of every array moved to the device, in order (for tests and
        diagnostics).
    """

    def __init__(self, device):
        self.device = device
        self.moves = []
        self._cache = {}

    def __repr__(self):
        return f"DeviceScope({self.device}, {len(self.moves)} moves)"


@contextlib.contextmanager
def torch_scope(device):
    """Run the kernels called in the block as torch twins on ``device`` (any torch device).

    Examples
    --------
    >>> import numpy as np
    >>> from activekit._device import route, torch_scope
    >>> route(np.ones((3, 2)))           # the Rust kernel
    RustBackend()
    >>> with torch_scope("cpu"):
    ...     r = route(np.ones((3, 2)))
    >>> r.device, r.to_numpy             # the twin on CPU tensors, results as NumPy
    (device(type='cpu'), True)
    """
    torch = _torch()
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    scope = DeviceScope(device)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)
        scope._cache.clear()


@contextlib.contextmanager
def device_scope(device):
    """The learner's scope for one query: none for ``"cpu"``, else a :func:`torch_scope`."""
    if device == "cpu":
        yield None
        return
    target = _TEST_TARGET.get()
    with torch_scope(device if target is None else target.device) as scope:
        if target is not None:
            target.scopes.append(scope)
        yield scope


@contextlib.contextmanager
def _target_for_testing(device="cpu"):
    """Private testing hook: in this block a learner's non-CPU ``device`` passes
    :func:`check_device` without a GPU and its queries run the twins on torch's ``device``.

    Yields the list of the scopes the learner opens.
    """
    record = types.SimpleNamespace(device=_torch().device(device), scopes=[])
    token = _TEST_TARGET.set(record)
    try:
        yield record.scopes
    finally:
        _TEST_TARGET.reset(token)


def _is_tensor(a):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(a, torch.Tensor)


def route(*arrays):
    """The backend a call on ``arrays`` runs on: a :class:`~activekit._backends.TorchBackend`
    on a device, or :data:`~activekit._backends.RUST`."""
    devices = {a.device for a in arrays if _is_tensor(a) and a.device.type != "cpu"}
    if len(devices) > 1:
        names = ", ".join(sorted(str(d) for d in devices))
        raise ValueError(f"inputs are on different devices ({names}); move them to one")
    scope = _SCOPE.get()
    if devices:
        device = devices.pop()
        same = scope if scope is not None and scope.device == device else None
        return _backends.TorchBackend(device, same, to_numpy=False)
    if scope is not None:
        return _backends.TorchBackend(scope.device, scope, to_numpy=True)
    return _backends.RUST
