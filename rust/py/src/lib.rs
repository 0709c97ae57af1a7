//! `activekit._native`: thin PyO3 bindings over `activekit-core`.
//!
//! Each function borrows the NumPy arrays, views them without copying, releases the GIL,
//! calls the core kernel and converts the result; kernel errors become Python exceptions in
//! Python's words (`to_py_err`). Validation of shapes and dtypes beyond what the kernels check,
//! and the choice of dtype, belong to the Python side (`activekit._kernels`). The conventions
//! are in `docs/rust-kernels.md`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use activekit_core as core;
use activekit_core::{
    Cancel, Disagreement, Input, KernelError, Metric, Multilabel, Named, Neighbors, TopK,
    Uncertainty, VoteMeasure,
};
use numpy::ndarray::Array1;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

/// What a function's Python arguments are called, for each core [`Input`] it takes; an input
/// not listed keeps the core's description ("the probability matrix").
type Names = &'static [(Input, &'static str)];

/// The inputs of the scoring kernels keep the core's descriptions.
const NO_NAMES: Names = &[];
/// `kmeans_plusplus`, `knn` without `x_ref`, `knn_density`, `mean_cosine_similarity`.
const ROWS_X: Names = &[(Input::Rows, "X")];
const KCENTER: Names = &[
    (Input::Pool, "X_pool"),
    (Input::Centers, "X_centers"),
    (Input::First, "first"),
];
const MIN_DISTANCES: Names = &[(Input::Rows, "X"), (Input::Centers, "C")];
const KMEANS_OUTER: Names = &[(Input::Gradients, "A"), (Input::Embeddings, "H")];
/// `knn` with `x_ref`: the names `activekit._kernels` documents (`X`, `X_ref`).
const KNN_QUERY: Names = &[(Input::Queries, "X"), (Input::References, "X_ref")];

/// The one place where kernel errors become Python exceptions, in Python's words: `names`
/// gives the arguments' names, and a first pick that must be left out "must be None".
fn to_py_err(err: KernelError, names: Names) -> PyErr {
    let name = |input: Input| {
        names
            .iter()
            .find(|&&(i, _)| i == input)
            .map_or(input.description(), |&(_, python)| python)
    };
    let message = match err {
        KernelError::FirstWithCentres { m } => format!(
            "{} must be None when there are centres ({m} rows): the first pick is then the farthest row",
            name(Input::First)
        ),
        _ => err.message(name),
    };
    match err {
        KernelError::ThreadPool { .. } => PyRuntimeError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// A measure or metric from its name; an unknown name is a ValueError listing the known ones.
fn parse<T: FromStr<Err = String>>(name: &str) -> PyResult<T> {
    name.parse().map_err(PyValueError::new_err)
}

/// A matrix of either float type.
#[derive(FromPyObject)]
enum Matrix<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

/// A stack of probability matrices (committee members, rows, classes) of either float type.
#[derive(FromPyObject)]
enum Stack<'py> {
    F32(PyReadonlyArray3<'py, f32>),
    F64(PyReadonlyArray3<'py, f64>),
}

/// A score vector of either float type.
#[derive(FromPyObject)]
enum Vector<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    F64(PyReadonlyArray1<'py, f64>),
}

/// `match` over the float type of an array of the enum `$kind` ([`Matrix`], [`Stack`],
/// [`Vector`]): `$body` is compiled once for `f32` and once for `f64`, with `$x` the typed
/// array and `$T` (optional) an alias of its float type.
macro_rules! by_float {
    ($kind:ident $array:expr, |$x:ident $(: $T:ident)?| $body:expr) => {
        match $array {
            $kind::F32($x) => {
                $(type $T = f32;)?
                $body
            }
            $kind::F64($x) => {
                $(type $T = f64;)?
                $body
            }
        }
    };
}

/// [`by_float!`] over two matrices that must share their float type; `$mixed` when they do not.
macro_rules! by_float_pair {
    (($a:expr, $b:expr), |$x:ident, $y:ident| $body:expr, else $mixed:expr) => {
        match ($a, $b) {
            (Matrix::F32($x), Matrix::F32($y)) => $body,
            (Matrix::F64($x), Matrix::F64($y)) => $body,
            _ => $mixed,
        }
    };
}

type IndicesAndScores<'py> = (Bound<'py, PyArray1<isize>>, Bound<'py, PyAny>);

fn convert_top_k<'py, T: numpy::Element + Copy>(
    py: Python<'py>,
    top: TopK<T>,
) -> IndicesAndScores<'py> {
    (
        indices_to_py(py, top.indices),
        top.scores.into_pyarray(py).into_any(),
    )
}

/// Scores of either float type as a NumPy array.
fn scores_to_py<T: numpy::Element>(py: Python<'_>, scores: Array1<T>) -> Bound<'_, PyAny> {
    scores.into_pyarray(py).into_any()
}

fn indices_to_py(py: Python<'_>, indices: Vec<usize>) -> Bound<'_, PyArray1<isize>> {
    // Pool sizes fit in isize: they index a NumPy array.
    let v: Vec<isize> = indices.into_iter().map(|i| i as isize).collect();
    v.into_pyarray(py)
}

/// Run a long kernel with the GIL released on a worker thread, on `n_threads` threads, while
/// this thread wakes every 50 ms to let Python handle signals: on Ctrl-C the kernel is asked
/// to stop through its [`Cancel`] token, and the KeyboardInterrupt is raised once it has.
fn run_interruptible<R: Send>(
    py: Python<'_>,
    n_threads: usize,
    names: Names,
    kernel: impl FnOnce(&Cancel) -> core::Result<R> + Send,
) -> PyResult<R> {
    let cancel = Cancel::new();
    // The pool is the calling thread's (for an explicit count), not the worker's below.
    let pool = core::threads(n_threads).map_err(|e| to_py_err(e, names))?;
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let cancel = &cancel;
        scope.spawn(move || {
            let result = pool.run(|| kernel(cancel));
            // The receiver outlives this thread (the scope joins it first).
            let _ = done_tx.send(result);
        });
        // The receiver is Send but not Sync: each wait takes it and hands it back.
        let mut done_rx = done_rx;
        loop {
            let (waited, rx) = py.detach(move || {
                let waited = done_rx.recv_timeout(Duration::from_millis(50));
                (waited, done_rx)
            });
            done_rx = rx;
            match waited {
                Ok(result) => return result.map_err(|e| to_py_err(e, names)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        cancel.cancel();
                        // Wait for the kernel to notice; its result is dropped.
                        let _ = py.detach(move || done_rx.recv());
                        return Err(interrupt);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err(
                        "kernel thread ended without a result",
                    ))
                }
            }
        }
    })
}

/// Run a kernel with the GIL released, on `n_threads` threads, mapping its error.
fn run<R: Send>(
    py: Python<'_>,
    n_threads: usize,
    names: Names,
    kernel: impl FnOnce() -> core::Result<R> + Send,
) -> PyResult<R> {
    py.detach(|| core::with_threads(n_threads, kernel))
        .and_then(|r| r)
        .map_err(|e| to_py_err(e, names))
}

/// The two functions of a family of measures over class probabilities held in an array of the
/// enum `$array`, parsed as `$measure`: `$scores(probs, measure, tol, n_threads)` calls the
/// core's `$core_scores`, `$top_k(probs, measure, k, tol, n_threads)` its `$core_top_k`.
macro_rules! probability_kernels {
    (
        $array:ident, $measure:ty;
        $(#[$scores_doc:meta])* fn $scores:ident = $core_scores:path;
        $(#[$top_k_doc:meta])* fn $top_k:ident = $core_top_k:path;
    ) => {
        $(#[$scores_doc])*
        #[pyfunction]
        fn $scores<'py>(
            py: Python<'py>,
            probs: $array<'py>,
            measure: &str,
            tol: f64,
            n_threads: usize,
        ) -> PyResult<Bound<'py, PyAny>> {
            let kind: $measure = parse(measure)?;
            by_float!($array probs, |p: T| {
                let view = p.as_array();
                let tol = tol as T;
                let out = run(py, n_threads, NO_NAMES, || $core_scores(view, kind, tol))?;
                Ok(scores_to_py(py, out))
            })
        }

        $(#[$top_k_doc])*
        #[pyfunction]
        fn $top_k<'py>(
            py: Python<'py>,
            probs: $array<'py>,
            measure: &str,
            k: usize,
            tol: f64,
            n_threads: usize,
        ) -> PyResult<IndicesAndScores<'py>> {
            let kind: $measure = parse(measure)?;
            by_float!($array probs, |p: T| {
                let view = p.as_array();
                let tol = tol as T;
                let top = run(py, n_threads, NO_NAMES, || $core_top_k(view, kind, k, tol))?;
                Ok(convert_top_k(py, top))
            })
        }
    };
}

probability_kernels! {
    Matrix, Uncertainty;
    /// uncertainty_scores(probs, measure, tol, n_threads)
    /// --
    ///
    /// Uncertainty score of every row of a C-contiguous float32/float64 (n, c) matrix.
    fn uncertainty_scores = core::uncertainty_scores;
    /// uncertainty_top_k(probs, measure, k, tol, n_threads)
    /// --
    ///
    /// Indices (most uncertain first, ties by lowest row) and scores of the k most uncertain rows.
    fn uncertainty_top_k = core::uncertainty_top_k;
}

probability_kernels! {
    Stack, Disagreement;
    /// committee_scores(probs, measure, tol, n_threads)
    /// --
    ///
    /// Disagreement on every row of a C-contiguous float32/float64 (members, n, c) array.
    fn committee_scores = core::committee_scores;
    /// committee_top_k(probs, measure, k, tol, n_threads)
    /// --
    ///
    /// Indices (most disagreement first, ties by lowest row) and scores of the k rows the
    /// committee disagrees on most.
    fn committee_top_k = core::committee_top_k;
}

/// multilabel_scores(probs, measure, n_threads)
/// --
///
/// Multi-label score of every row of a C-contiguous float32/float64 (n, L) matrix of
/// per-label probabilities (n may be 0).
#[pyfunction]
fn multilabel_scores<'py>(
    py: Python<'py>,
    probs: Matrix<'py>,
    measure: &str,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let kind: Multilabel = parse(measure)?;
    by_float!(Matrix probs, |p| {
        let view = p.as_array();
        let out = run(py, n_threads, NO_NAMES, || core::multilabel_scores(view, kind))?;
        Ok(scores_to_py(py, out))
    })
}

/// multilabel_top_k(probs, measure, k, n_threads)
/// --
///
/// Indices (highest score first, ties by lowest row) and scores of the k rows with the
/// highest multi-label score.
#[pyfunction]
fn multilabel_top_k<'py>(
    py: Python<'py>,
    probs: Matrix<'py>,
    measure: &str,
    k: usize,
    n_threads: usize,
) -> PyResult<IndicesAndScores<'py>> {
    let kind: Multilabel = parse(measure)?;
    by_float!(Matrix probs, |p| {
        let view = p.as_array();
        let top = run(py, n_threads, NO_NAMES, || core::multilabel_top_k(view, kind, k))?;
        Ok(convert_top_k(py, top))
    })
}

/// top_k(scores, k, n_threads)
/// --
///
/// Indices (highest first, ties by lowest index) and values of the k highest scores.
#[pyfunction]
fn top_k<'py>(
    py: Python<'py>,
    scores: Vector<'py>,
    k: usize,
    n_threads: usize,
) -> PyResult<IndicesAndScores<'py>> {
    by_float!(Vector scores, |s| {
        let view = s.as_array();
        let top = run(py, n_threads, NO_NAMES, || core::top_k(view, k))?;
        Ok(convert_top_k(py, top))
    })
}

/// vote_scores(votes, n_classes, measure, n_threads)
/// --
///
/// Vote disagreement (float64) on every row of an int64 (members, n) array of class indices.
#[pyfunction]
fn vote_scores<'py>(
    py: Python<'py>,
    votes: PyReadonlyArray2<'py, i64>,
    n_classes: usize,
    measure: &str,
    n_threads: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let kind: VoteMeasure = parse(measure)?;
    let view = votes.as_array();
    let out = run(py, n_threads, NO_NAMES, || {
        core::vote_scores(view, n_classes, kind)
    })?;
    Ok(out.into_pyarray(py))
}

/// vote_top_k(votes, n_classes, measure, k, n_threads)
/// --
///
/// Indices (most disagreement first, ties by lowest row) and float64 scores of the k rows
/// whose votes disagree most.
#[pyfunction]
fn vote_top_k<'py>(
    py: Python<'py>,
    votes: PyReadonlyArray2<'py, i64>,
    n_classes: usize,
    measure: &str,
    k: usize,
    n_threads: usize,
) -> PyResult<IndicesAndScores<'py>> {
    let kind: VoteMeasure = parse(measure)?;
    let view = votes.as_array();
    let top = run(py, n_threads, NO_NAMES, || {
        core::vote_top_k(view, n_classes, kind, k)
    })?;
    Ok(convert_top_k(py, top))
}

fn same_dtype_error() -> PyErr {
    PyTypeError::new_err("both matrices must have the same dtype (float32 or float64)")
}

type KCenterOut<'py> = (Bound<'py, PyArray1<isize>>, Bound<'py, PyArray1<f64>>, u64);

/// kcenter_greedy(X_pool, X_centers, k, first, n_threads)
/// --
///
/// Farthest-first picks (pool rows), their max-min Euclidean distances (float64) and the
/// number of distances evaluated. Both matrices C-contiguous and of the same dtype.
#[pyfunction]
#[allow(non_snake_case)]
fn kcenter_greedy<'py>(
    py: Python<'py>,
    X_pool: Matrix<'py>,
    X_centers: Matrix<'py>,
    k: usize,
    first: Option<usize>,
    n_threads: usize,
) -> PyResult<KCenterOut<'py>> {
    let out = by_float_pair!((X_pool, X_centers), |p, c| {
        let (p, c) = (p.as_array(), c.as_array());
        run_interruptible(py, n_threads, KCENTER, |cancel| {
            core::kcenter_greedy(p, c, k, first, cancel)
        })?
    }, else return Err(same_dtype_error()));
    Ok((
        indices_to_py(py, out.indices),
        out.distances.into_pyarray(py),
        out.evaluations,
    ))
}

type NearestOut<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<isize>>);

/// min_distances(X, C, n_threads)
/// --
///
/// Euclidean distance (float64) from each row of X to its nearest row of C, and that row.
#[pyfunction]
#[allow(non_snake_case)]
fn min_distances<'py>(
    py: Python<'py>,
    X: Matrix<'py>,
    C: Matrix<'py>,
    n_threads: usize,
) -> PyResult<NearestOut<'py>> {
    let out = by_float_pair!((X, C), |x, c| {
        let (x, c) = (x.as_array(), c.as_array());
        run_interruptible(py, n_threads, MIN_DISTANCES, |cancel| {
            core::min_distances(x, c, cancel)
        })?
    }, else return Err(same_dtype_error()));
    Ok((
        out.distances.into_pyarray(py),
        indices_to_py(py, out.indices),
    ))
}

/// kmeans_plusplus(X, k, seed, n_threads)
/// --
///
/// k rows of X chosen by k-means++ (D^2) seeding from a u64 seed, in pick order.
#[pyfunction]
#[allow(non_snake_case)]
fn kmeans_plusplus<'py>(
    py: Python<'py>,
    X: Matrix<'py>,
    k: usize,
    seed: u64,
    n_threads: usize,
) -> PyResult<Bound<'py, PyArray1<isize>>> {
    let picks = by_float!(Matrix X, |x| {
        let x = x.as_array();
        run_interruptible(py, n_threads, ROWS_X, |cancel| {
            core::kmeans_plusplus(x, k, seed, cancel)
        })?
    });
    Ok(indices_to_py(py, picks))
}

/// kmeans_plusplus_outer(A, H, intercept, k, seed, n_threads)
/// --
///
/// k rows of the outer products A[i] (x) [H[i], 1] (the 1 when intercept) chosen by k-means++
/// seeding from a u64 seed, without forming them. A is float64; H float32 or float64.
#[pyfunction]
#[allow(non_snake_case)]
fn kmeans_plusplus_outer<'py>(
    py: Python<'py>,
    A: PyReadonlyArray2<'py, f64>,
    H: Matrix<'py>,
    intercept: bool,
    k: usize,
    seed: u64,
    n_threads: usize,
) -> PyResult<Bound<'py, PyArray1<isize>>> {
    let a = A.as_array();
    let picks = by_float!(Matrix H, |h| {
        let h = h.as_array();
        run_interruptible(py, n_threads, KMEANS_OUTER, |cancel| {
            core::kmeans_plusplus_outer(a, h, intercept, k, seed, cancel)
        })?
    });
    Ok(indices_to_py(py, picks))
}

type IndicesAndDistances<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyAny>);

fn convert_neighbors<'py, T: numpy::Element>(
    py: Python<'py>,
    nn: Neighbors<T>,
) -> IndicesAndDistances<'py> {
    // Row indices fit in i64: they index a NumPy array.
    let indices = nn.indices.mapv(|i| i as i64);
    (
        indices.into_pyarray(py),
        nn.distances.into_pyarray(py).into_any(),
    )
}

/// knn(x, x_ref, k, metric, n_threads)
/// --
///
/// Indices and distances of the k nearest rows of x_ref (or of x, excluding each row itself,
/// when x_ref is None) to every row of x; C-contiguous arrays of one float type.
#[pyfunction]
#[pyo3(signature = (x, x_ref, k, metric, n_threads))]
fn knn<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    x_ref: Option<Matrix<'py>>,
    k: usize,
    metric: &str,
    n_threads: usize,
) -> PyResult<IndicesAndDistances<'py>> {
    let metric: Metric = parse(metric)?;
    match x_ref {
        None => by_float!(Matrix x, |x| {
            let x = x.as_array();
            let nn = run_interruptible(py, n_threads, ROWS_X, |cancel| {
                core::knn(x, k, metric, cancel)
            })?;
            Ok(convert_neighbors(py, nn))
        }),
        Some(r) => by_float_pair!((x, r), |q, r| {
            let (q, r) = (q.as_array(), r.as_array());
            let nn = run_interruptible(py, n_threads, KNN_QUERY, |cancel| {
                core::knn_query(q, r, k, metric, cancel)
            })?;
            Ok(convert_neighbors(py, nn))
        }, else Err(PyTypeError::new_err(
            "x and x_ref must have the same float type",
        ))),
    }
}

/// knn_density(x, k, metric, n_threads)
/// --
///
/// Mean similarity of every row of x to its k nearest other rows.
#[pyfunction]
fn knn_density<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    k: usize,
    metric: &str,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let metric: Metric = parse(metric)?;
    by_float!(Matrix x, |x| {
        let x = x.as_array();
        let out = run_interruptible(py, n_threads, ROWS_X, |cancel| {
            core::knn_density(x, k, metric, cancel)
        })?;
        Ok(scores_to_py(py, out))
    })
}

/// mean_cosine_similarity(x, n_threads)
/// --
///
/// Exact mean cosine similarity of every row of x to all rows, in O(n d).
#[pyfunction]
fn mean_cosine_similarity<'py>(
    py: Python<'py>,
    x: Matrix<'py>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    by_float!(Matrix x, |x| {
        let x = x.as_array();
        let out = run(py, n_threads, ROWS_X, || core::mean_cosine_similarity(x))?;
        Ok(scores_to_py(py, out))
    })
}

/// The names of `T`'s variants as a tuple of str, in the core's order.
fn names_tuple<'py, T: Named>(py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, core::names::<T>())
}

/// Native kernels of activekit. Import `activekit._kernels` instead of this module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(uncertainty_scores, m)?)?;
    m.add_function(wrap_pyfunction!(uncertainty_top_k, m)?)?;
    m.add_function(wrap_pyfunction!(top_k, m)?)?;
    m.add_function(wrap_pyfunction!(committee_scores, m)?)?;
    m.add_function(wrap_pyfunction!(committee_top_k, m)?)?;
    m.add_function(wrap_pyfunction!(multilabel_scores, m)?)?;
    m.add_function(wrap_pyfunction!(multilabel_top_k, m)?)?;
    m.add_function(wrap_pyfunction!(vote_scores, m)?)?;
    m.add_function(wrap_pyfunction!(vote_top_k, m)?)?;
    m.add_function(wrap_pyfunction!(kcenter_greedy, m)?)?;
    m.add_function(wrap_pyfunction!(min_distances, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_plusplus, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_plusplus_outer, m)?)?;
    m.add_function(wrap_pyfunction!(knn, m)?)?;
    m.add_function(wrap_pyfunction!(knn_density, m)?)?;
    m.add_function(wrap_pyfunction!(mean_cosine_similarity, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let py = m.py();
    m.add("UNCERTAINTY_MEASURES", names_tuple::<Uncertainty>(py)?)?;
    m.add("COMMITTEE_MEASURES", names_tuple::<Disagreement>(py)?)?;
    m.add("VOTE_MEASURES", names_tuple::<VoteMeasure>(py)?)?;
    m.add("MULTILABEL_MEASURES", names_tuple::<Multilabel>(py)?)?;
    m.add("DISTANCE_METRICS", names_tuple::<Metric>(py)?)?;
    Ok(())
}
