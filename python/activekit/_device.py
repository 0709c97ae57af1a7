"""Where a kernel runs: Rust on NumPy arrays, or its torch twin on a device.

:mod:`activekit._kernels` asks :func:`route` about the inputs of every call:

1. an input is a torch tensor on a non-CPU device: the twin in
   :mod:`activekit._torch_kernels` runs on that device (other inputs are moved there) and the
   results are torch tensors on it;
2. otherwise, inside a device scope (``ActiveLearningClassifier(device="cuda")`` opens one
   around the strategy's work in every query): the inputs move to the scope's device, a matrix
   of rows (pool, centres, references) once per scope, and the results come back as NumPy;
3. otherwise: ``None``, the Rust kernel on NumPy (CPU tensors are viewed as NumPy arrays).

Nothing here imports torch until a tensor or a scope is involved: ``import activekit`` never
does.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import sys
import types
import warnings

import numpy as np

from ._dependencies import import_optional

__all__ = ["Route", "check_device", "device_scope", "route", "torch_scope"]

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
    >>> route(np.ones((3, 2))) is None   # the Rust kernel
    True
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


def _dtype_name(t):
    # As NumPy names it: "float64", not "torch.float64".
    return str(t.dtype).replace("torch.", "")


def route(*arrays):
    """Where a call on ``arrays`` runs: a :class:`Route` to a device, or ``None`` for Rust."""
    devices = {a.device for a in arrays if _is_tensor(a) and a.device.type != "cpu"}
    if len(devices) > 1:
        names = ", ".join(sorted(str(d) for d in devices))
        raise ValueError(f"inputs are on different devices ({names}); move them to one")
    scope = _SCOPE.get()
    if devices:
        device = devices.pop()
        return Route(device, scope if scope is not None and scope.device == device else None,
                     to_numpy=False)
    if scope is not None:
        return Route(scope.device, scope, to_numpy=True)
    return None


class Route:
    """Inputs moved to ``device`` for the twins there, and their results brought back."""

    def __init__(self, device, scope, to_numpy):
        from . import _torch_kernels

        self.torch = _torch()
        self.kernels = _torch_kernels
        self.device = device
        self.scope = scope
        self.to_numpy = to_numpy

    def _move(self, t):
        if self.scope is not None:
            self.scope.moves.append((tuple(t.shape), _dtype_name(t)))
        return t.to(self.device)

    def is_tensor(self, a):
        return isinstance(a, self.torch.Tensor)

    def cached(self, a):
        """The tensor that NumPy array ``a`` became earlier in this scope, or None."""
        if self.scope is None or not isinstance(a, np.ndarray):
            return None
        hit = self.scope._cache.get(id(a))
        return hit[1] if hit is not None and hit[0] is a else None

    def put(self, arr, key=None):
        """Move a validated C-contiguous NumPy array to the device; with ``key`` (the array the
        caller passed), remember it for the rest of the scope."""
        with warnings.catch_warnings():
            # A read-only array: the twins never write to their inputs.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            host = self.torch.from_numpy(arr)
        t = self._move(host)
        if key is not None and self.scope is not None and isinstance(key, np.ndarray):
            # Holding ``key`` keeps its id from being reused while the entry lives.
            self.scope._cache[id(key)] = (key, t)
        return t

    def _on_device(self, t):
        t = t.detach()
        return t if t.device == self.device else self._move(t)

    def floats(self, t, name, ndim):
        """``_kernels._as_float`` for a tensor: float32 stays, other real dtypes become
        float64, on the device."""
        torch = self.torch
        if t.ndim != ndim:
            raise ValueError(f"{name} must be a {ndim}-D array, got shape {tuple(t.shape)}")
        if t.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {_dtype_name(t)}")
        dtype = torch.float32 if t.dtype == torch.float32 else torch.float64
        return self._on_device(t).to(dtype).contiguous()

    def votes(self, t):
        """``_kernels._as_votes`` for a tensor: integer class indices as int64, on the device."""
        torch = self.torch
        if t.ndim != 2:
            raise ValueError(
                f"votes must be a 2-D array (members, samples), got shape {tuple(t.shape)}"
            )
        if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
            raise TypeError(
                f"votes must hold integer class indices, got dtype {_dtype_name(t)}"
            )
        return self._on_device(t).to(torch.int64).contiguous()

    def back(self, out):
        """Results as the caller wants them: NumPy inside a scope, else tensors as they are."""
        if isinstance(out, tuple):
            return tuple(self.back(o) for o in out)
        if self.to_numpy and isinstance(out, self.torch.Tensor):
            return out.cpu().numpy()
        return out
