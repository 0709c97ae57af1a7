"""Type stub of the Rust extension; ``tests/test_public_api.py`` checks it against the build."""

import numpy as np
import numpy.typing as npt

__version__: str
# The names each kernel family accepts, in order; taken from the core's enums.
UNCERTAINTY_MEASURES: tuple[str, ...]
COMMITTEE_MEASURES: tuple[str, ...]
VOTE_MEASURES: tuple[str, ...]
MULTILABEL_MEASURES: tuple[str, ...]
DISTANCE_METRICS: tuple[str, ...]

def uncertainty_scores(
    probs: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    measure: str,
    tol: float,
    n_threads: int,
) -> npt.NDArray[np.float32] | npt.NDArray[np.float64]: ...
def uncertainty_top_k(
    probs: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    measure: str,
    k: int,
    tol: float,
    n_threads: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32] | npt.NDArray[np.float64]]: ...
def top_k(
    scores: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    k: int,
    n_threads: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32] | npt.NDArray[np.float64]]: ...
def committee_scores(
    probs: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    measure: str,
    tol: float,
    n_threads: int,
) -> npt.NDArray[np.float32] | npt.NDArray[np.float64]: ...
def committee_top_k(
    probs: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    measure: str,
    k: int,
    tol: float,
    n_threads: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32] | npt.NDArray[np.float64]]: ...
def multilabel_scores(
    probs: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    measure: str,
    n_threads: int,
) -> npt.NDArray[np.float32] | npt.NDArray[np.float64]: ...
def multilabel_top_k(
    probs: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    measure: str,
    k: int,
    n_threads: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32] | npt.NDArray[np.float64]]: ...
def vote_scores(
    votes: npt.NDArray[np.int64],
    n_classes: int,
    measure: str,
    n_threads: int,
) -> npt.NDArray[np.float64]: ...
def vote_top_k(
    votes: npt.NDArray[np.int64],
    n_classes: int,
    measure: str,
    k: int,
    n_threads: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]: ...
def kcenter_greedy(
    X_pool: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    X_centers: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    k: int,
    first: int | None,
    n_threads: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], int]: ...
def min_distances(
    X: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    C: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    n_threads: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]: ...
def kmeans_plusplus(
    X: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    k: int,
    seed: int,
    n_threads: int,
) -> npt.NDArray[np.intp]: ...
def kmeans_plusplus_outer(
    A: npt.NDArray[np.float64],
    H: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    intercept: bool,
    k: int,
    seed: int,
    n_threads: int,
) -> npt.NDArray[np.intp]: ...
def knn(
    x: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    x_ref: npt.NDArray[np.float32] | npt.NDArray[np.float64] | None,
    k: int,
    metric: str,
    n_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32] | npt.NDArray[np.float64]]: ...
def knn_density(
    x: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    k: int,
    metric: str,
    n_threads: int,
) -> npt.NDArray[np.float32] | npt.NDArray[np.float64]: ...
def mean_cosine_similarity(
    x: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    n_threads: int,
) -> npt.NDArray[np.float32] | npt.NDArray[np.float64]: ...
