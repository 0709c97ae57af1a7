//! Numeric kernels of activekit, free of Python: pool scoring, distances and selection on borrowed
//! `ndarray` views, parallel over rows with rayon, deterministic for any thread count.
//!
//! Every kernel is generic over [`Real`] (`f32`, `f64`), returns a [`Result`], breaks ties by
//! the lowest index and allocates memory linear in the pool, never `n x n`.

mod buckets;
mod cancel;
mod committee;
mod distance;
mod error;
mod isa;
mod kcenter;
mod kmeanspp;
mod knn;
mod ln;
mod multilabel;
mod names;
mod parallel;
mod real;
#[cfg(test)]
mod testing;
mod topk;
mod uncertainty;

pub use cancel::Cancel;
pub use committee::{
    committee_scores, committee_top_k, vote_scores, vote_top_k, Disagreement, VoteMeasure,
};
pub use distance::{min_distances, Nearest};
pub use error::{Input, KernelError, Result};
pub use kcenter::{kcenter_greedy, KCenter};
pub use kmeanspp::{kmeans_plusplus, kmeans_plusplus_outer};
pub use knn::{knn, knn_density, knn_query, mean_cosine_similarity, Metric, Neighbors};
pub use ln::{ln_f32, ln_f64};
pub use multilabel::{multilabel_scores, multilabel_top_k, Multilabel};
pub use names::{names, Named};
pub use parallel::{threads, with_threads, Threads};
pub use real::Real;
pub use topk::{top_k, TopK};
pub use uncertainty::{uncertainty_scores, uncertainty_top_k, Uncertainty};
