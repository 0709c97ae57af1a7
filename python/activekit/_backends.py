"""The two places a kernel runs, behind one interface: Rust on NumPy arrays, torch on a device.

:func:`activekit._device.route` picks one for every call; :mod:`activekit._kernels` then uses
only these methods, whichever it got:

``as_float(a, name, ndim, cache=False)``
    ``a`` checked (:func:`_kernel_checks.float_array`) and made C-contiguous float32 (when it is
    float32) or float64 (any other real dtype): a NumPy array, or a tensor on the device.
    With ``cache``, a matrix of rows (a pool, centres, references) moves to a device once per
    scope.
``as_votes(votes, n_classes)``
    Votes checked (:func:`_kernel_checks.vote_array`) and made C-contiguous int64.
``unit_rows(a, name)``
    Rows scaled to unit Euclidean length in ``a``'s dtype, for the cosine metric.
``to_f64(a)``
    ``a`` as float64 (no copy when it is already).
``call(kernel, *args, threads)``
    The kernel named ``kernel`` (a function of ``activekit._native``, or its twin in
    :mod:`activekit._torch_kernels`) on ``args`` checked by :mod:`activekit._kernel_checks`;
    ``threads`` (from :func:`_kernel_checks.n_threads`) is the Rust kernel's thread count.

Nothing here imports torch until a :class:`TorchBackend` is made.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _kernel_checks as checks
from . import _native
from ._dependencies import import_optional

__all__ = ["RUST", "RustBackend", "TorchBackend"]


def _to_numpy(a):
    # A torch tensor (CPU) becomes a NumPy array without importing torch here.
    if type(a).__module__.split(".")[0] == "torch":
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _numpy_floats(a, name, ndim):
    arr = _to_numpy(a)
    checks.float_array(name, arr.shape, ndim, arr.dtype, arr.dtype.kind in "biuf")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    # Converts byte order and layout only when needed; never writes to the input.
    return np.ascontiguousarray(arr, dtype=dtype)


def _numpy_votes(votes, n_classes):
    v = _to_numpy(votes)
    checks.vote_array(v.shape, v.dtype, v.dtype.kind in "iu")
    if v.dtype.kind == "u" and v.size:
        checks.votes_in_int64(v.max(), n_classes)
    return np.ascontiguousarray(v, dtype=np.int64)


class RustBackend:
    """The Rust kernels of ``activekit._native`` on C-contiguous NumPy arrays; a CPU tensor is
    viewed as a NumPy array."""

    def __repr__(self):
        return "RustBackend()"

    def as_float(self, a, name, ndim, cache=False):
        return _numpy_floats(a, name, ndim)

    def as_votes(self, votes, n_classes):
        return _numpy_votes(votes, n_classes)

    def unit_rows(self, a, name):
        """Each row divided by its largest absolute value first, so that rows whose squared
        norm would overflow (``1e200``) or underflow (subnormal) still get their direction."""
        if a.shape[0] == 0:
            return a
        bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
        if bad.size:
            raise checks.row_not_finite(name, bad[0])
        scale = np.abs(a).max(axis=1, initial=0)
        zero = np.flatnonzero(scale == 0)
        if zero.size:
            raise checks.row_zero_length(name, zero[0])
        b = a / scale[:, None]  # a new array in a's dtype, entries in [-1, 1]
        b /= np.sqrt(np.einsum("ij,ij->i", b, b, dtype=np.float64)).astype(a.dtype)[:, None]
        return b

    def to_f64(self, a):
        return a.astype(np.float64, copy=False)

    def call(self, kernel, *args, threads):
        return getattr(_native, kernel)(*args, threads)


RUST = RustBackend()


class TorchBackend:
    """The torch twins on ``device``: inputs moved there, results brought back.

    ``scope`` is the :class:`activekit._device.DeviceScope` the call runs in (or ``None``): it
    records the moves and remembers the matrices of rows already moved. ``to_numpy``: the
    results come back as NumPy arrays (NumPy inputs in a scope) rather than tensors on the
    device (tensor inputs).
    """

    def __init__(self, device, scope, to_numpy):
        from . import _torch_kernels

        self.torch = import_optional("torch", extra="torch")
        self.kernels = _torch_kernels
        self.device = device
        self.scope = scope
        self.to_numpy = to_numpy

    def __repr__(self):
        return f"TorchBackend({self.device}, to_numpy={self.to_numpy})"

    def is_tensor(self, a):
        return isinstance(a, self.torch.Tensor)

    def _move(self, t):
        if self.scope is not None:
            self.scope.moves.append((tuple(t.shape), checks.dtype_name(t)))
        return t.to(self.device)

    def _on_device(self, t):
        t = t.detach()
        return t if t.device == self.device else self._move(t)

    def _cached(self, a):
        """The tensor that NumPy array ``a`` became earlier in this scope, or None."""
        if self.scope is None or not isinstance(a, np.ndarray):
            return None
        hit = self.scope._cache.get(id(a))
        return hit[1] if hit is not None and hit[0] is a else None

    def _put(self, arr, key=None):
        """Move a checked C-contiguous NumPy array to the device; with ``key`` (the array the
        caller passed), remember it for the rest of the scope."""
        if any(s < 0 for s in arr.strides):
            # C-contiguous with a reversed axis of length 1: torch refuses negative strides.
            arr = arr.copy()
        with warnings.catch_warnings():
            # A read-only array: the twins never write to their inputs.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            host = self.torch.from_numpy(arr)
        t = self._move(host)
        if key is not None and self.scope is not None and isinstance(key, np.ndarray):
            # Holding ``key`` keeps its id from being reused while the entry lives.
            self.scope._cache[id(key)] = (key, t)
        return t

    def as_float(self, a, name, ndim, cache=False):
        torch = self.torch
        if self.is_tensor(a):
            checks.float_array(name, a.shape, ndim, checks.dtype_name(a), not a.is_complex())
            dtype = torch.float32 if a.dtype == torch.float32 else torch.float64
            return self._on_device(a).to(dtype).contiguous()
        hit = self._cached(a) if cache else None
        if hit is not None:
            return hit
        return self._put(_numpy_floats(a, name, ndim), key=a if cache else None)

    def as_votes(self, votes, n_classes):
        torch = self.torch
        if self.is_tensor(votes):
            integral = not (votes.dtype == torch.bool or votes.is_floating_point()
                            or votes.is_complex())
            checks.vote_array(votes.shape, checks.dtype_name(votes), integral)
            return self._on_device(votes).to(torch.int64).contiguous()
        return self._put(_numpy_votes(votes, n_classes))

    def unit_rows(self, a, name):
        return self.kernels.unit_rows(a, name)

    def to_f64(self, a):
        return a.double()

    def call(self, kernel, *args, threads):
        """The twin on ``args``; ``threads`` is for the Rust kernels (torch has its own)."""
        return self._back(getattr(self.kernels, kernel)(*args))

    def _back(self, out):
        """Results as the caller wants them: NumPy inside a scope, else tensors as they are."""
        if isinstance(out, tuple):
            return tuple(self._back(o) for o in out)
        if self.to_numpy and isinstance(out, self.torch.Tensor):
            return out.cpu().numpy()
        return out
