"""Fuzzing every exported kernel: whatever Python passes, only ValueError or TypeError escape.

Two layers are fuzzed, each found by introspection so that new kernels are picked up:

* every public function of ``activekit._kernels`` (its ``__all__``), with hypothesis drawing
  each argument by its parameter name: arrays of any dtype (float16/32/64, big-endian, int,
  uint, bool, complex, strings, objects), any number of dimensions, empty sides, Fortran,
  reversed, strided and read-only layouts, and values that are NaN, +-inf, huge (overflowing
  a square), subnormal or -0.0; near-valid probability matrices and vote tables so that the
  draws also get past validation into the Rust code; integers from negative to beyond u64;
  and wrong types (strings, floats, bools, None) for every scalar;
* every function of the extension ``activekit._native`` called directly, past the Python
  checks, so that the Rust validation alone stands between the input and a panic. There the
  argument conversion may also raise OverflowError (a negative or too large int for a
  ``usize``), which is PyO3's, not a kernel's.

A Rust panic would surface as ``pyo3_runtime.PanicException`` (a BaseException), a crash
would end the test run, and a stray RuntimeWarning is an error under this suite's warning
filter: each fails the test. A new kernel parameter with no generator below fails
``test_every_parameter_has_a_generator`` until one is added to ``ARGUMENTS``.
"""

import inspect
import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from activekit import _kernels, _native

PUBLIC = sorted(
    name
    for name in _kernels.__all__
    if inspect.isfunction(getattr(_kernels, name)) and not name.startswith("_")
)
NATIVE = sorted(
    name for name in dir(_native) if not name.startswith("_") and callable(getattr(_native, name))
)

# -- values -----------------------------------------------------------------------------------

F32_MAX = float(np.finfo(np.float32).max)
SPECIAL_FLOATS = [
    0.0, -0.0, 1.0, -1.0, 0.5, 1 / 3, math.nan, math.inf, -math.inf,
    5e-324, 2.2e-308, 1e-45, 1e-38,  # subnormal and tiny, in float64 and float32
    1e19, 1e38, F32_MAX, 1e154, 1e200, 1.7e308, -1.7e308,  # squares overflow
]
floats = st.one_of(
    st.sampled_from(SPECIAL_FLOATS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3).map(float),
)
BIG_INTS = [2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**100]
ints = st.one_of(
    st.integers(-3, 12),
    st.sampled_from([*BIG_INTS, -(2**63), -(2**64)]),
    st.integers(),
)
WRONG_SCALARS = [None, "3", "", 2.5, 1.0, math.nan, True, False, [1], (), object()]
integers = st.one_of(
    ints,
    st.integers(-3, 12).map(np.int64),
    st.integers(0, 12).map(np.uint8),
    st.sampled_from(WRONG_SCALARS),
)

FLOAT_DTYPES = ["<f2", "<f4", "<f8", ">f4", ">f8"]
OTHER_DTYPES = ["<i1", "<i4", "<i8", ">i8", "<u1", "<u8", "?", "<c8", "<c16", "<U3", "O"]


def _elements(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.one_of(st.integers(-3, 12), st.sampled_from([info.min, info.max])).filter(
            lambda v: info.min <= v <= info.max
        )
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind == "c":
        return st.complex_numbers(max_magnitude=1e6, allow_nan=False, allow_infinity=False)
    if dtype.kind == "U":
        return st.text(alphabet="ab1 .", max_size=3)
    return st.sampled_from([1, 2.5, "a", None, math.nan])  # object


def layouts(a):
    """The same values as C, Fortran, reversed, strided and read-only arrays."""
    out = [a, np.asfortranarray(a)]
    if a.ndim >= 1:
        out.append(a[::-1])
        strided = np.repeat(a, 2, axis=-1)[..., ::2] if a.shape[-1] else a
        out.append(strided)
    frozen = a.copy()
    frozen.setflags(write=False)
    out.append(frozen)
    return st.sampled_from(out)


@st.composite
def any_arrays(draw, ndim=None, max_side=6):
    """An array of any dtype and layout, with any number of (possibly empty) dimensions."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES * 2 + OTHER_DTYPES))
    if ndim is None:
        ndim = draw(st.integers(0, 3))
    shape = draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=0, max_side=max_side))
    if np.dtype(dtype).kind == "f":
        # Drawn in float64 and rounded: float16 and float32 overflow to inf like user data.
        a = draw(hnp.arrays(np.float64, shape, elements=floats))
        with np.errstate(over="ignore"):
            a = a.astype(dtype)
    else:
        a = draw(hnp.arrays(np.dtype(dtype), shape, elements=_elements(dtype)))
    return draw(layouts(a))


@st.composite
def probability_arrays(draw, ndim):
    """Rows (along the last axis) that sum to one, sometimes spoilt by one special value."""
    shape = draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=0, max_side=6))
    raw = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1e-300, 0.2, 1.0, 3.0])))
    total = raw.sum(axis=-1, keepdims=True)
    p = np.where(total > 0, raw / np.where(total > 0, total, 1.0), 1.0 / max(shape[-1], 1))
    if p.size and draw(st.integers(0, 3)) == 0:
        p.flat[draw(st.integers(0, p.size - 1))] = draw(floats)
    dtype = draw(st.sampled_from(["<f4", "<f8", "<f8", ">f8"]))
    with np.errstate(over="ignore"):
        p = p.astype(dtype)
    return draw(layouts(p))


@st.composite
def point_arrays(draw):
    """Points on a small grid (duplicates, zero rows), now and then with one extreme value;
    mostly 2 columns, so that two of them usually fit together."""
    n = draw(st.integers(0, 8))
    d = draw(st.sampled_from([2, 2, 2, 1, 3, 0]))
    X = draw(hnp.arrays(np.float64, (n, d), elements=st.integers(-2, 2).map(float)))
    if X.size and draw(st.booleans()):
        X.flat[draw(st.integers(0, X.size - 1))] = draw(floats)
    dtype = draw(st.sampled_from(["<f4", "<f8", "<f8", ">f8", "<i8"]))
    if dtype == "<i8":
        X = np.nan_to_num(X, nan=0, posinf=9, neginf=-9).clip(-9, 9)
    with np.errstate(over="ignore"):
        X = X.astype(dtype)
    return draw(layouts(X))


@st.composite
def vote_arrays(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=6))
    dtype = draw(st.sampled_from(["<i8", "<i8", "<i4", ">i8", "<u8", "<u1"]))
    info = np.iinfo(dtype)
    elements = st.one_of(st.integers(0, 4), st.integers(0, 4), st.sampled_from([info.min, info.max]))
    return draw(layouts(draw(hnp.arrays(np.dtype(dtype), shape, elements=elements))))


def mostly(sane, wild):
    """``sane`` four times in five, else ``wild``: most draws get past the first check."""
    return st.sampled_from([True, True, True, True, False]).flatmap(
        lambda ok: sane if ok else wild
    )


MEASURES = {
    "uncertainty": _kernels.UNCERTAINTY_MEASURES,
    "committee": _kernels.COMMITTEE_MEASURES,
    "vote": _kernels.VOTE_MEASURES,
    "multilabel": _kernels.MULTILABEL_MEASURES,
}
wrong = st.sampled_from(WRONG_SCALARS)
small = st.integers(0, 8)

#: How to draw every parameter of a public kernel or a native function, by its name.
ARGUMENTS = {
    "probs": mostly(st.one_of(probability_arrays(2), probability_arrays(3)), any_arrays()),
    # committee kernels get (members, rows, classes) stacks more often than the others.
    "probs (committee)": mostly(probability_arrays(3), probability_arrays(2) | any_arrays()),
    "scores": mostly(any_arrays(ndim=1, max_side=9), any_arrays()),
    "votes": mostly(vote_arrays(), any_arrays()),
    **dict.fromkeys(
        ["X", "x", "X_pool", "X_centers", "C", "A", "H"], mostly(point_arrays(), any_arrays())
    ),
    **dict.fromkeys(
        ["X_ref", "x_ref"], mostly(st.one_of(st.none(), point_arrays()), any_arrays())
    ),
    # as_float, the seam's conversion: any array, its name in messages, the dimensions wanted.
    "a": mostly(point_arrays(), any_arrays()),
    "name": st.text(max_size=8),
    "ndim": mostly(st.integers(1, 3), integers),
    "k": mostly(st.integers(1, 8), integers),
    "n_classes": mostly(st.integers(1, 6), integers),
    "first": mostly(st.one_of(st.none(), small), integers),
    "seed": mostly(st.integers(0, 2**64 - 1), integers),
    "measure": mostly(
        st.sampled_from([m for ms in MEASURES.values() for m in ms]), st.just("bogus") | wrong
    ),
    # A kernel named after its family gets that family's measures most of the time.
    **{
        f"measure ({family})": mostly(
            st.sampled_from(measures), st.sampled_from(["bogus", *MEASURES["uncertainty"]]) | wrong
        )
        for family, measures in MEASURES.items()
    },
    "metric": mostly(st.sampled_from(_kernels.DISTANCE_METRICS), st.just("manhattan") | wrong),
    "tol": mostly(st.sampled_from([1e-6, 1e-4, 0.0]), st.one_of(floats, wrong)),
    # Huge thread counts are capped at the number of cores (test_thread_counts_are_capped).
    "n_jobs": mostly(st.sampled_from([None, 1, 2, -1]), st.one_of(ints, wrong)),
    "n_threads": mostly(st.integers(0, 3), st.sampled_from(BIG_INTS) | wrong),
    "random_state": mostly(st.one_of(st.none(), st.integers(0, 2**32 - 1)), ints | wrong),
    "return_n_evaluations": mostly(st.booleans(), wrong),
    "intercept": mostly(st.booleans(), wrong),
}


def argument(parameter, kernel):
    """The generator of ``parameter`` of the kernel named ``kernel``."""
    family = kernel.split("_")[0]
    return ARGUMENTS.get(f"{parameter} ({family})", ARGUMENTS[parameter])


def _parameters(fn):
    return list(inspect.signature(fn).parameters.values())


def _native_parameters(fn):
    # "name(a, b, c)\n--\n\n..." (PyO3's text signature)
    text = fn.__text_signature__
    return [p.strip() for p in text.strip("()").split(",") if p.strip()]


def test_kernels_are_found():
    # The fuzzers below run over what introspection finds: make sure it finds them.
    assert {"uncertainty_top_k", "kcenter_greedy", "knn", "vote_scores"} <= set(PUBLIC)
    assert set(NATIVE) >= {"uncertainty_top_k", "kcenter_greedy", "knn", "vote_scores"}


def test_every_parameter_has_a_generator():
    missing = {
        f"{name}({p.name})"
        for name in PUBLIC
        for p in _parameters(getattr(_kernels, name))
        if p.name not in ARGUMENTS
    } | {
        f"_native.{name}({p})"
        for name in NATIVE
        for p in _native_parameters(getattr(_native, name))
        if p not in ARGUMENTS
    }
    assert not missing, f"add a generator to ARGUMENTS in {__file__} for {sorted(missing)}"


def _check_result(out):
    """Returned index arrays hold positions, never negative."""
    for part in out if isinstance(out, tuple) else (out,):
        if isinstance(part, np.ndarray) and part.dtype.kind in "iu":
            assert part.size == 0 or part.min() >= 0, f"negative index in {part}"


@pytest.mark.parametrize("name", PUBLIC)
@given(data=st.data())
def test_public_kernels_raise_only_value_or_type_errors(name, data):
    fn = getattr(_kernels, name)
    args, kwargs = [], {}
    for p in _parameters(fn):
        if p.default is not inspect.Parameter.empty and not data.draw(st.booleans(), label="pass"):
            continue
        value = data.draw(argument(p.name, name), label=p.name)
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[p.name] = value
        else:
            args.append(value)
    try:
        out = fn(*args, **kwargs)
    except (ValueError, TypeError):
        return
    _check_result(out)


@pytest.mark.parametrize("name", NATIVE)
@given(data=st.data())
def test_native_functions_never_panic(name, data):
    fn = getattr(_native, name)
    args = [data.draw(argument(p, name), label=p) for p in _native_parameters(fn)]
    try:
        out = fn(*args)
    except (ValueError, TypeError, OverflowError):
        return
    _check_result(out)


def test_thread_counts_are_capped():
    # n_jobs=10**12 runs on every core, not on 10**12 threads (which would never start).
    probs = np.tile([0.3, 0.7], (50, 1))
    want = _kernels.uncertainty_scores(probs, "margin", n_jobs=1)
    assert _kernels.n_threads(10**12) == os.cpu_count()
    np.testing.assert_array_equal(_kernels.uncertainty_scores(probs, "margin", n_jobs=10**12), want)
    for threads in (2**40, 2**64 - 1):  # straight to Rust, which caps at the cores too
        np.testing.assert_array_equal(_native.uncertainty_scores(probs, "margin", 1e-6, threads), want)


# -- what the fuzzers found, pinned ------------------------------------------------------------


def test_cosine_rows_whose_squares_overflow_keep_their_direction():
    X = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 3.0]])
    for scale in (1e200, 1e-320):  # squared norms overflow to inf, or underflow to 0
        dist, arg = _kernels.min_distances(X * scale, X[:1] * scale, metric="cosine")
        np.testing.assert_allclose(dist, [0.0, 1 - np.sqrt(0.5), 1.0], atol=1e-12)
        np.testing.assert_array_equal(arg, [0, 0, 0])


def test_cosine_rows_with_inf_are_refused_without_a_warning():
    X = np.array([[1.0, 0.0], [np.inf, 1.0]])
    with pytest.raises(ValueError, match="X_pool row 1 contains NaN or infinity"):
        _kernels.kcenter_greedy(X, X[:1], 1, metric="cosine")


def test_n_classes_beyond_int64_is_a_value_error():
    # It reached the extension, whose conversion to usize raised OverflowError.
    with pytest.raises(ValueError, match=r"n_classes must be at most 2\*\*63 - 1, got 18446744073709551616"):
        _kernels.vote_scores(np.zeros((2, 3), dtype=np.int64), 2**64, "vote_entropy")
