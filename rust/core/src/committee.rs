//! Disagreement of a committee over a pool, alone or fused with top-k selection. Higher scores
//! mean more disagreement, so more informative rows.
//!
//! From the members' class probabilities, an `(m, n, c)` array (`m` members, `n` rows, `c`
//! classes), with `p̄` the members' mean distribution of a row and `H` the entropy
//! (natural log, `0 ln 0 = 0`):
//!
//! * consensus entropy: `H(p̄)`
//! * mean KL divergence from the consensus: `(1/m) sum_i KL(p_i || p̄) = H(p̄) - (1/m) sum_i H(p_i)`
//! * mean standard deviation: `(1/c) sum_j sqrt((1/m) sum_i (p_ij - p̄_j)^2)`, the spread of
//!   each class's probability across members, averaged over the classes
//!
//! The same measures over `T` posterior samples (MC dropout, a deep ensemble) in place of
//! `m` members are the predictive entropy, BALD's mutual information (Houlsby et al. 2011)
//! and the mean STD of Kampffmeyer et al. (2016).
//!
//! From the members' votes, an `(m, n)` array of class indices, with `v_j` the number of
//! members voting for class `j`:
//!
//! * vote entropy: `-sum_j (v_j / m) ln(v_j / m)`
//! * variation ratio: `1 - max_j v_j / m`
//!
//! Every member's probability row is validated in the pass that reads it, and every vote is
//! checked to be a class index; the error names the lowest invalid row and, within it, the
//! lowest member, whatever the thread count.

use crate::error::{Input, KernelError, Result};
use crate::isa::{best_isa, multiversion};
use crate::names::named;
use crate::real::Real;
use crate::topk::{check_k, scores_by_block, top_k_by_block, TopK};
use crate::uncertainty::{block_stats, check_probability_shape, finish, RowStats, Uncertainty};
use ndarray::{s, Array1, ArrayView2, ArrayView3};

/// A disagreement measure over the members' class probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disagreement {
    /// `H(p̄)`: entropy of the mean distribution (consensus entropy; over posterior samples,
    /// the predictive entropy).
    ConsensusEntropy,
    /// `H(p̄) - mean_i H(p_i)`: the mean KL divergence of each member from the mean
    /// (max disagreement; over posterior samples, BALD's mutual information).
    MeanKl,
    /// `(1/c) sum_j std_i(p_ij)`: the population standard deviation of each class's
    /// probability across the members, averaged over the classes (over posterior samples, the
    /// mean STD of Kampffmeyer et al. 2016). Computed in two passes (the mean, then the
    /// squared deviations from it), so that members that agree score 0 up to rounding instead
    /// of the cancellation error of `E[p^2] - E[p]^2`.
    MeanStd,
}

named!(
    Disagreement,
    "disagreement measure",
    [
        "consensus_entropy" => ConsensusEntropy,
        "max_disagreement" => MeanKl,
        "mean_std" => MeanStd,
    ]
);

/// A disagreement measure over the members' votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteMeasure {
    /// `-sum_j (v_j / m) ln(v_j / m)`: entropy of the vote distribution.
    VoteEntropy,
    /// `1 - max_j v_j / m`: the share of members outside the modal vote.
    VariationRatio,
}

named!(
    VoteMeasure,
    "vote measure",
    [
        "vote_entropy" => VoteEntropy,
        "variation_ratio" => VariationRatio,
    ]
);

/// Fewest members that can disagree.
const MIN_MEMBERS: usize = 2;

/// Values per member in one pass over a group of rows (at most a block): the running sum of
/// the group (64 KiB in f32) stays in the L2 cache while every member is added to it (the
/// size is measured: `docs/rust-kernels.md`).
const GROUP_VALUES: usize = 16384;

fn check_members(m: usize) -> Result<()> {
    if m < MIN_MEMBERS {
        return Err(KernelError::TooFewMembers {
            min: MIN_MEMBERS,
            got: m,
        });
    }
    Ok(())
}

fn check_committee<T: Real>(probs: &ArrayView3<T>, tol: T) -> Result<()> {
    let (m, n, c) = probs.dim();
    check_members(m)?;
    check_probability_shape(
        n,
        c,
        Input::CommitteeProbabilities,
        "a committee disagreement",
        tol,
    )
}

/// An elementwise update of a running sum.
#[derive(Debug, Clone, Copy)]
enum Op<'a, T> {
    /// `acc[j] += x[j]`.
    Add,
    /// `acc[j] /= x[0]`.
    Divide,
    /// `acc[j] += (x[j] - mean[j])^2`.
    AddSquaredDeviation(&'a [T]),
}

#[inline(always)]
fn elementwise_generic<T: Real>(acc: &mut [T], x: &[T], op: Op<'_, T>) {
    match op {
        Op::Add => {
            for (a, &v) in acc.iter_mut().zip(x) {
                *a = *a + v;
            }
        }
        Op::Divide => {
            let d = x.first().copied().unwrap_or_else(T::one);
            for a in acc.iter_mut() {
                *a = *a / d;
            }
        }
        Op::AddSquaredDeviation(mean) => {
            for ((a, &v), &mu) in acc.iter_mut().zip(x).zip(mean) {
                let d = v - mu;
                *a = *a + d * d;
            }
        }
    }
}

multiversion! {
    /// [`elementwise_generic`] on the variant `isa`, compiled for wider vectors: IEEE additions
    /// and divisions, one per element, give the same bits on every variant (see `crate::isa`).
    fn elementwise<T: Real>(acc: &mut [T], x: &[T], op: Op<'_, T>) = elementwise_generic;
}

/// Buffers of one parallel job, reused across its groups of rows.
struct Scratch<T> {
    /// The running sum over members of a group, then its mean.
    mean: Vec<T>,
    /// The running sum over members of the squared deviations from the mean
    /// ([`Disagreement::MeanStd`] only; empty otherwise).
    squares: Vec<T>,
    /// A member's rows of the group when they are not contiguous in memory.
    copy: Vec<T>,
    /// Statistics of every member's rows of the group, member-major.
    members: Vec<RowStats<T>>,
    /// Statistics of the mean rows.
    consensus: Vec<RowStats<T>>,
}

/// Member `i`'s rows `first..first + r` as one row-major slice: borrowed when they are
/// contiguous in memory, else copied into `copy`.
fn member_rows<'a, T: Real>(
    probs: ArrayView3<'a, T>,
    i: usize,
    first: usize,
    r: usize,
    copy: &'a mut Vec<T>,
) -> &'a [T] {
    let rows = probs.slice_move(s![i, first..first + r, ..]);
    match rows.to_slice() {
        Some(x) => x,
        None => {
            copy.clear();
            copy.extend(rows.iter().copied());
            &copy[..]
        }
    }
}

/// Score rows `start..start + out.len()` into `out`, or name the first invalid member row.
///
/// The rows are taken in groups of about [`GROUP_VALUES`] values per member. For each member,
/// in order: the statistics of its rows (sum and minimum for validation, and `sum p ln p` for
/// [`Disagreement::MeanKl`]) come from the uncertainty kernels' vectorised row pass, and its
/// rows are added to the running sum. The mean rows then get the entropy pass; for
/// [`Disagreement::MeanStd`], a second pass over the members instead sums their squared
/// deviations from the mean. Every value of a row goes through the same operations in the same
/// order wherever the row lies, so a row's score does not depend on the group, the block or
/// the thread count.
fn score_block<T: Real>(
    probs: &ArrayView3<T>,
    start: usize,
    kind: Disagreement,
    tol: T,
    out: &mut [T],
) -> Result<()> {
    let (m, _, c) = probs.dim();
    let member_kind = match kind {
        // Only validation is needed: the cheapest pass that gathers the sum and minimum.
        Disagreement::ConsensusEntropy | Disagreement::MeanStd => Uncertainty::LeastConfident,
        Disagreement::MeanKl => Uncertainty::Entropy,
    };
    let c_real = T::from(c).unwrap_or_else(T::one);
    let m_real = T::from(m).unwrap_or_else(T::one);
    let isa = best_isa();
    let group = (GROUP_VALUES / c).clamp(1, out.len().max(1));
    let mut scratch = Scratch {
        mean: vec![T::zero(); group * c],
        squares: match kind {
            Disagreement::MeanStd => vec![T::zero(); group * c],
            _ => Vec::new(),
        },
        copy: Vec::new(),
        members: vec![RowStats::zero(); m * group],
        consensus: vec![RowStats::zero(); group],
    };
    for (g, out) in out.chunks_mut(group).enumerate() {
        let first = start + g * group;
        let r = out.len();
        let mean = &mut scratch.mean[..r * c];
        mean.fill(T::zero());
        for i in 0..m {
            let x = member_rows(probs.view(), i, first, r, &mut scratch.copy);
            block_stats(x, c, member_kind, &mut scratch.members[i * r..(i + 1) * r]);
            elementwise(isa, mean, x, Op::Add);
        }
        elementwise(isa, mean, &[m_real], Op::Divide);
        if kind == Disagreement::MeanStd {
            let squares = &mut scratch.squares[..r * c];
            squares.fill(T::zero());
            for i in 0..m {
                let x = member_rows(probs.view(), i, first, r, &mut scratch.copy);
                elementwise(isa, squares, x, Op::AddSquaredDeviation(mean));
            }
        } else {
            block_stats(mean, c, Uncertainty::Entropy, &mut scratch.consensus[..r]);
        }
        for (j, slot) in out.iter_mut().enumerate() {
            // Sum over members, in member order, of each member's entropy (MeanKl only).
            let mut member_entropy = T::zero();
            for i in 0..m {
                let h =
                    finish(&scratch.members[i * r + j], member_kind, tol).map_err(|reason| {
                        KernelError::InvalidMemberProbability {
                            member: i,
                            row: first + j,
                            reason,
                        }
                    })?;
                member_entropy = member_entropy + h;
            }
            // -sum p̄ ln p̄ is >= 0 mathematically; clamp the rounding of a one-hot mean.
            let consensus = || (-scratch.consensus[j].a).max(T::zero());
            *slot = match kind {
                Disagreement::ConsensusEntropy => consensus(),
                // Jensen: H(p̄) >= mean H(p_i); clamp the rounding when members agree.
                Disagreement::MeanKl => (consensus() - member_entropy / m_real).max(T::zero()),
                Disagreement::MeanStd => {
                    // Classes in order: a row's score depends on its values alone.
                    let mut total = T::zero();
                    for &sq in &scratch.squares[j * c..(j + 1) * c] {
                        total = total + (sq / m_real).sqrt();
                    }
                    total / c_real
                }
            };
        }
    }
    Ok(())
}

/// The disagreement of the committee on every row.
///
/// `probs[i, r, j]` is member `i`'s probability of class `j` for row `r`; each member's rows
/// must be non-negative, finite and sum to one within `tol`. A member that never saw a class
/// gives it probability 0.
///
/// # Errors
/// [`KernelError::TooFewMembers`] for fewer than two members, [`KernelError::Empty`] for no
/// rows, [`KernelError::TooFewClasses`] for fewer than two classes,
/// [`KernelError::InvalidTolerance`], and [`KernelError::InvalidMemberProbability`] naming
/// the lowest invalid row and, within it, the lowest member.
///
/// # Examples
/// ```
/// use activekit_core::{committee_scores, Disagreement};
/// use ndarray::array;
/// // Two members, two rows: they contradict each other on row 0 and agree on row 1.
/// let p = array![[[1.0_f64, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]];
/// let s = committee_scores(p.view(), Disagreement::MeanKl, 1e-9).unwrap();
/// assert!((s[0] - 2f64.ln()).abs() < 1e-12 && s[1] == 0.0);
/// ```
pub fn committee_scores<T: Real>(
    probs: ArrayView3<T>,
    kind: Disagreement,
    tol: T,
) -> Result<Array1<T>> {
    check_committee(&probs, tol)?;
    scores_by_block(probs.dim().1, |start, out| {
        score_block(&probs, start, kind, tol, out)
    })
}

/// The `k` rows the committee disagrees on most, most first (equal scores: lowest row first),
/// with their scores. Scoring and selection are fused: no score vector over the pool is kept.
///
/// # Errors
/// As [`committee_scores`], and [`KernelError::InvalidK`] unless `1 <= k <= n`.
///
/// # Examples
/// ```
/// use activekit_core::{committee_top_k, Disagreement};
/// use ndarray::array;
/// let p = array![
///     [[0.9_f32, 0.1], [0.6, 0.4], [0.5, 0.5]],
///     [[0.8, 0.2], [0.1, 0.9], [0.5, 0.5]],
/// ];
/// let top = committee_top_k(p.view(), Disagreement::ConsensusEntropy, 2, 1e-4).unwrap();
/// assert_eq!(top.indices, vec![2, 1]);
/// ```
pub fn committee_top_k<T: Real>(
    probs: ArrayView3<T>,
    kind: Disagreement,
    k: usize,
    tol: T,
) -> Result<TopK<T>> {
    check_committee(&probs, tol)?;
    check_k(k, probs.dim().1)?;
    top_k_by_block(probs.dim().1, k, |start, out| {
        score_block(&probs, start, kind, tol, out)
    })
}

fn check_votes(votes: &ArrayView2<i64>) -> Result<()> {
    check_members(votes.nrows())?;
    if votes.ncols() == 0 {
        return Err(KernelError::Empty { what: Input::Votes });
    }
    Ok(())
}

/// `x ln x` at `x = v / m` for every count `v` in `0..=m`: the terms of a vote entropy.
fn vote_terms(m: usize) -> Vec<f64> {
    (0..=m).map(|v| (v as f64 / m as f64).xlogx()).collect()
}

/// Score rows `start..start + out.len()` into `out` from the votes, or name the first invalid
/// vote (lowest row, then lowest member).
///
/// The rows' votes are gathered member by member (contiguous reads) into one short list per
/// row, which is checked, sorted and read as runs of equal votes: memory per row is `m`,
/// whatever the number of classes. The vote entropy is summed over the run lengths in
/// increasing order (`sizes[v]` classes got `v` votes), so it depends only on how the votes
/// split, not on which classes got them: rows whose votes split alike tie exactly, and ties go
/// to the lowest row.
fn vote_block(
    votes: &ArrayView2<i64>,
    n_classes: usize,
    kind: VoteMeasure,
    terms: &[f64],
    start: usize,
    out: &mut [f64],
) -> Result<()> {
    let m = votes.nrows();
    let mut rows = vec![0_i64; out.len() * m];
    for (i, member) in votes.outer_iter().enumerate() {
        let part = member.slice(s![start..start + out.len()]);
        for (slot, &v) in rows.iter_mut().skip(i).step_by(m).zip(part.iter()) {
            *slot = v;
        }
    }
    let mut sizes = vec![0_usize; m + 1];
    for (j, (row, slot)) in rows.chunks_exact_mut(m).zip(out.iter_mut()).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            if v < 0 || v as u64 >= n_classes as u64 {
                return Err(KernelError::InvalidVote {
                    member: i,
                    row: start + j,
                    vote: v,
                    n_classes,
                });
            }
        }
        row.sort_unstable();
        sizes.fill(0);
        let mut run = 1;
        for w in 1..=m {
            if w < m && row[w] == row[w - 1] {
                run += 1;
            } else {
                sizes[run] += 1;
                run = 1;
            }
        }
        *slot = match kind {
            VoteMeasure::VoteEntropy => {
                let mut sum = 0.0_f64;
                for (&count, &term) in sizes.iter().zip(terms).skip(1) {
                    if count > 0 {
                        sum += count as f64 * term;
                    }
                }
                (-sum).max(0.0)
            }
            VoteMeasure::VariationRatio => {
                let modal = sizes.iter().rposition(|&count| count > 0).unwrap_or(m);
                (m - modal) as f64 / m as f64
            }
        };
    }
    Ok(())
}

/// The vote disagreement of the committee on every row.
///
/// `votes[i, r]` is member `i`'s predicted class for row `r`, as an index in `0..n_classes`.
/// Scores are `f64`.
///
/// # Errors
/// [`KernelError::TooFewMembers`] for fewer than two members, [`KernelError::Empty`] for no
/// rows, and [`KernelError::InvalidVote`] naming the lowest row, and within it the lowest
/// member, whose vote is not a class index.
///
/// # Examples
/// ```
/// use activekit_core::{vote_scores, VoteMeasure};
/// use ndarray::array;
/// // Three members; on row 0 they vote 0, 1, 1; on row 1 all vote 2.
/// let votes = array![[0_i64, 2], [1, 2], [1, 2]];
/// let s = vote_scores(votes.view(), 3, VoteMeasure::VariationRatio).unwrap();
/// assert!((s[0] - 1.0 / 3.0).abs() < 1e-15 && s[1] == 0.0);
/// ```
pub fn vote_scores(
    votes: ArrayView2<i64>,
    n_classes: usize,
    kind: VoteMeasure,
) -> Result<Array1<f64>> {
    check_votes(&votes)?;
    let terms = vote_terms(votes.nrows());
    scores_by_block(votes.ncols(), |start, out| {
        vote_block(&votes, n_classes, kind, &terms, start, out)
    })
}

/// The `k` rows with the most vote disagreement, most first (equal scores: lowest row first),
/// with their scores; fused like [`committee_top_k`].
///
/// # Errors
/// As [`vote_scores`], and [`KernelError::InvalidK`] unless `1 <= k <= n`.
pub fn vote_top_k(
    votes: ArrayView2<i64>,
    n_classes: usize,
    kind: VoteMeasure,
    k: usize,
) -> Result<TopK<f64>> {
    check_votes(&votes)?;
    check_k(k, votes.ncols())?;
    let terms = vote_terms(votes.nrows());
    top_k_by_block(votes.ncols(), k, |start, out| {
        vote_block(&votes, n_classes, kind, &terms, start, out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;
    use crate::testing::XorShift;
    use crate::topk::BLOCK;
    use ndarray::{array, Array2, Array3};
    use proptest::prelude::*;

    const MEASURES: [Disagreement; 3] = [
        Disagreement::ConsensusEntropy,
        Disagreement::MeanKl,
        Disagreement::MeanStd,
    ];
    const VOTES: [VoteMeasure; 2] = [VoteMeasure::VoteEntropy, VoteMeasure::VariationRatio];

    fn entropy(p: &[f64]) -> f64 {
        -p.iter()
            .map(|&x| if x > 0.0 { x * x.ln() } else { 0.0 })
            .sum::<f64>()
    }

    /// Straight from the definitions: the mean KL divergence is summed term by term.
    fn reference(p: &Array3<f64>, kind: Disagreement) -> Vec<f64> {
        let (m, n, c) = p.dim();
        (0..n)
            .map(|r| {
                let mean: Vec<f64> = (0..c)
                    .map(|j| (0..m).map(|i| p[[i, r, j]]).sum::<f64>() / m as f64)
                    .collect();
                match kind {
                    Disagreement::ConsensusEntropy => entropy(&mean),
                    Disagreement::MeanKl => {
                        let kl: f64 = (0..m)
                            .map(|i| {
                                (0..c)
                                    .filter(|&j| p[[i, r, j]] > 0.0)
                                    .map(|j| p[[i, r, j]] * (p[[i, r, j]] / mean[j]).ln())
                                    .sum::<f64>()
                            })
                            .sum();
                        kl / m as f64
                    }
                    Disagreement::MeanStd => {
                        let std: f64 = (0..c)
                            .map(|j| {
                                let var = (0..m)
                                    .map(|i| (p[[i, r, j]] - mean[j]).powi(2))
                                    .sum::<f64>()
                                    / m as f64;
                                var.sqrt()
                            })
                            .sum();
                        std / c as f64
                    }
                }
            })
            .collect()
    }

    fn vote_reference(votes: &Array2<i64>, c: usize, kind: VoteMeasure) -> Vec<f64> {
        let m = votes.nrows();
        votes
            .columns()
            .into_iter()
            .map(|col| {
                let mut counts = vec![0usize; c];
                for &v in col {
                    counts[v as usize] += 1;
                }
                let share: Vec<f64> = counts.iter().map(|&k| k as f64 / m as f64).collect();
                match kind {
                    VoteMeasure::VoteEntropy => entropy(&share),
                    VoteMeasure::VariationRatio => {
                        1.0 - *counts.iter().max().unwrap() as f64 / m as f64
                    }
                }
            })
            .collect()
    }

    #[test]
    fn known_answers() {
        // Three members, three classes. Row 0: each member sure of a different class.
        // Row 1: all three say (0.5, 0.5, 0). Row 2: two sure of class 0, one of class 1.
        let p = array![
            [[1.0_f64, 0.0, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]],
            [[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]],
            [[0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0]],
        ];
        let ln2 = 2f64.ln();
        let ln3 = 3f64.ln();
        // H(2/3, 1/3) = ln 3 - (2/3) ln 2.
        let h_2_1 = ln3 - 2.0 / 3.0 * ln2;
        let ce = committee_scores(p.view(), Disagreement::ConsensusEntropy, 1e-9).unwrap();
        let kl = committee_scores(p.view(), Disagreement::MeanKl, 1e-9).unwrap();
        for (got, want) in ce.iter().zip([ln3, ln2, h_2_1]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        // Members are one-hot on rows 0 and 2, so the mean KL equals the consensus entropy
        // there; on row 1 they agree exactly.
        for (got, want) in kl.iter().zip([ln3, 0.0, h_2_1]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let top = committee_top_k(p.view(), Disagreement::MeanKl, 3, 1e-9).unwrap();
        assert_eq!(top.indices, vec![0, 2, 1]);
        // Row 0: every class is 1 for one member and 0 for two: std sqrt(2)/3 each. Row 2:
        // classes 0 and 1 have that spread, class 2 none. Row 1: no spread.
        let std = committee_scores(p.view(), Disagreement::MeanStd, 1e-9).unwrap();
        let s = 2f64.sqrt() / 3.0;
        for (got, want) in std.iter().zip([s, 0.0, 2.0 * s / 3.0]) {
            assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        }

        // Their votes (argmax, ties to the lowest class): row 0: 0, 1, 2; row 1: 0, 0, 0;
        // row 2: 0, 0, 1.
        let votes = array![[0_i64, 0, 0], [1, 0, 0], [2, 0, 1]];
        let ve = vote_scores(votes.view(), 3, VoteMeasure::VoteEntropy).unwrap();
        let vr = vote_scores(votes.view(), 3, VoteMeasure::VariationRatio).unwrap();
        for (got, want) in ve.iter().zip([ln3, 0.0, h_2_1]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        for (got, want) in vr.iter().zip([2.0 / 3.0, 0.0, 1.0 / 3.0]) {
            assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        }
        let top = vote_top_k(votes.view(), 3, VoteMeasure::VariationRatio, 2).unwrap();
        assert_eq!(top.indices, vec![0, 2]);
    }

    #[test]
    fn rejects_bad_shapes() {
        let one = Array3::<f64>::from_elem((1, 4, 2), 0.5);
        assert_eq!(
            committee_scores(one.view(), Disagreement::MeanKl, 1e-6).unwrap_err(),
            KernelError::TooFewMembers { min: 2, got: 1 }
        );
        let empty = Array3::<f64>::zeros((3, 0, 2));
        assert!(matches!(
            committee_top_k(empty.view(), Disagreement::MeanKl, 1, 1e-6),
            Err(KernelError::Empty { .. })
        ));
        let narrow = Array3::<f64>::ones((3, 2, 1));
        assert!(matches!(
            committee_scores(narrow.view(), Disagreement::ConsensusEntropy, 1e-6),
            Err(KernelError::TooFewClasses { got: 1, .. })
        ));
        let ok = Array3::<f64>::from_elem((2, 3, 2), 0.5);
        assert_eq!(
            committee_top_k(ok.view(), Disagreement::MeanKl, 4, 1e-6).unwrap_err(),
            KernelError::InvalidK { k: 4, n: 3 }
        );
        assert!(matches!(
            committee_scores(ok.view(), Disagreement::MeanKl, -1.0),
            Err(KernelError::InvalidTolerance { .. })
        ));
        let votes = Array2::<i64>::zeros((1, 5));
        assert_eq!(
            vote_scores(votes.view(), 2, VoteMeasure::VoteEntropy).unwrap_err(),
            KernelError::TooFewMembers { min: 2, got: 1 }
        );
        let votes = Array2::<i64>::zeros((2, 0));
        assert!(matches!(
            vote_top_k(votes.view(), 2, VoteMeasure::VoteEntropy, 1),
            Err(KernelError::Empty { .. })
        ));
    }

    #[test]
    fn names_the_lowest_invalid_row_then_member() {
        let n = 3 * BLOCK + 10;
        let mut p = Array3::<f32>::from_elem((4, n, 2), 0.5);
        p[[3, 2 * BLOCK + 1, 0]] = f32::NAN;
        p[[2, BLOCK + 7, 1]] = 0.7; // sums to 1.2
        p[[1, BLOCK + 7, 0]] = -0.5; // negative, same row, lower member
        p[[0, 3 * BLOCK, 0]] = 2.0;
        for kind in MEASURES {
            for threads in [1, 3] {
                let err = crate::with_threads(threads, || committee_top_k(p.view(), kind, 5, 1e-4))
                    .unwrap()
                    .unwrap_err();
                match &err {
                    KernelError::InvalidMemberProbability {
                        member,
                        row,
                        reason,
                    } => {
                        assert_eq!((*member, *row), (1, BLOCK + 7));
                        assert!(reason.contains("negative"), "{reason}");
                    }
                    other => panic!("{other:?}"),
                }
                assert!(err.to_string().starts_with(&format!(
                    "probability row {} of committee member 1",
                    BLOCK + 7
                )));
                let err = committee_scores(p.view(), kind, 1e-4).unwrap_err();
                assert!(matches!(
                    err,
                    KernelError::InvalidMemberProbability { member: 1, row, .. } if row == BLOCK + 7
                ));
            }
        }
        let mut votes = Array2::<i64>::zeros((3, n));
        votes[[2, 5]] = 3;
        votes[[1, 5]] = -1;
        votes[[0, 9]] = 7;
        for kind in VOTES {
            let err = vote_top_k(votes.view(), 3, kind, 2).unwrap_err();
            assert_eq!(
                err,
                KernelError::InvalidVote {
                    member: 1,
                    row: 5,
                    vote: -1,
                    n_classes: 3
                }
            );
            assert_eq!(
                vote_scores(votes.view(), 3, kind).unwrap_err().to_string(),
                "vote of committee member 1 at row 5 is -1, not a class index in 0..3"
            );
        }
    }

    #[test]
    fn members_that_agree_have_no_disagreement() {
        // Identical members: the mean KL is exactly 0 (clamped), the consensus entropy that
        // of each member.
        let row = [0.2_f64, 0.3, 0.5];
        let p = Array3::from_shape_fn((5, 4, 3), |(_, _, j)| row[j]);
        let kl = committee_scores(p.view(), Disagreement::MeanKl, 1e-9).unwrap();
        assert!(kl.iter().all(|&v| (0.0..1e-15).contains(&v)), "{kl}");
        let ce = committee_scores(p.view(), Disagreement::ConsensusEntropy, 1e-9).unwrap();
        assert!(ce.iter().all(|&v| (v - entropy(&row)).abs() < 1e-12));
        // The mean std is 0 up to the rounding of the mean (two passes: no cancellation).
        let sd = committee_scores(p.view(), Disagreement::MeanStd, 1e-9).unwrap();
        assert!(sd.iter().all(|&v| (0.0..1e-15).contains(&v)), "{sd}");
    }

    #[test]
    fn ties_take_lowest_row_across_blocks() {
        let n = 2 * BLOCK + 3;
        let p = Array3::<f32>::from_shape_fn((2, n, 2), |(i, _, j)| if i == j { 0.8 } else { 0.2 });
        for kind in MEASURES {
            let top = committee_top_k(p.view(), kind, 4, 1e-4).unwrap();
            assert_eq!(top.indices, vec![0, 1, 2, 3]);
        }
        let votes = Array2::<i64>::from_shape_fn((3, n), |(i, r)| ((i + r % 2) % 2) as i64);
        let top = vote_top_k(votes.view(), 2, VoteMeasure::VoteEntropy, 3).unwrap();
        assert_eq!(top.indices, vec![0, 1, 2]);
    }

    /// `m` members' probability matrices over `n` rows and `c` classes, with exact zeros,
    /// one-hot rows and duplicated rows.
    fn committee() -> impl Strategy<Value = Array3<f64>> {
        (2..6usize, 1..80usize, 2..24usize).prop_flat_map(|(m, n, c)| {
            prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64], m * n * c)
                .prop_map(move |v| {
                    let mut a = Array3::from_shape_vec((m, n, c), v).unwrap();
                    for mut member in a.outer_iter_mut() {
                        for mut r in member.rows_mut() {
                            let s: f64 = r.sum();
                            if s == 0.0 {
                                r[0] = 1.0;
                            } else {
                                r /= s;
                            }
                        }
                    }
                    a
                })
        })
    }

    fn vote_array() -> impl Strategy<Value = (Array2<i64>, usize)> {
        (2..12usize, 1..3000usize, 1..12usize).prop_flat_map(|(m, n, c)| {
            prop::collection::vec(0..c as i64, m * n)
                .prop_map(move |v| (Array2::from_shape_vec((m, n), v).unwrap(), c))
        })
    }

    proptest! {
        #[test]
        fn scores_match_reference(p in committee()) {
            let p32 = p.mapv(|x| x as f32);
            for kind in MEASURES {
                let want = reference(&p, kind);
                let got = committee_scores(p.view(), kind, 1e-9).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!((g - w).abs() < 1e-12, "{:?}: {} vs {}", kind, g, w);
                }
                let got32 = committee_scores(p32.view(), kind, 1e-4).unwrap();
                for (g, w) in got32.iter().zip(&want) {
                    prop_assert!((f64::from(*g) - w).abs() < 2e-5, "{:?}: {} vs {}", kind, g, w);
                }
                // Fused selection agrees with scoring then selecting.
                let k = p.dim().1.min(7);
                let fused = committee_top_k(p.view(), kind, k, 1e-9).unwrap();
                prop_assert_eq!(fused, crate::top_k(got.view(), k).unwrap());
            }
        }

        #[test]
        fn a_row_scores_the_same_anywhere(p in committee()) {
            // Alone, or at any position in a group (whose size depends on c) or block.
            let p32 = p.mapv(|x| x as f32);
            for kind in MEASURES {
                let all = committee_scores(p32.view(), kind, 1e-4).unwrap();
                for r in 0..p.dim().1 {
                    let one = p32.slice(s![.., r..r + 1, ..]);
                    let alone = committee_scores(one, kind, 1e-4).unwrap();
                    prop_assert_eq!(alone[0].to_bits(), all[r].to_bits(), "{:?} row {}", kind, r);
                }
            }
        }

        #[test]
        fn strided_and_threaded_agree(p in committee(), threads in 1..4usize) {
            // Rows-major copy viewed back as (m, n, c): no member slice is contiguous.
            let t = p.view().permuted_axes([1, 0, 2]).as_standard_layout().into_owned();
            let strided = t.view().permuted_axes([1, 0, 2]);
            prop_assert!(strided.slice(s![0, .., ..]).to_slice().is_none() || p.dim().1 == 1);
            for kind in MEASURES {
                let want = committee_scores(p.view(), kind, 1e-9).unwrap();
                let got = crate::with_threads(threads, || committee_scores(strided, kind, 1e-9))
                    .unwrap()
                    .unwrap();
                prop_assert_eq!(&got, &want);
                let k = p.dim().1.min(5);
                let a = crate::with_threads(threads, || committee_top_k(strided, kind, k, 1e-9))
                    .unwrap()
                    .unwrap();
                prop_assert_eq!(a, committee_top_k(p.view(), kind, k, 1e-9).unwrap());
            }
        }

        #[test]
        fn votes_match_reference((votes, c) in vote_array(), threads in 1..4usize) {
            let k = votes.ncols().min(9);
            // Column-major: each member's votes are strided.
            let transposed = votes.t().to_owned();
            let fortran = transposed.t();
            for kind in VOTES {
                let want = vote_reference(&votes, c, kind);
                let got = vote_scores(votes.view(), c, kind).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!((g - w).abs() < 1e-12, "{:?}: {} vs {}", kind, g, w);
                }
                let fused = crate::with_threads(threads, || {
                    vote_top_k(fortran, c, kind, k)
                })
                .unwrap()
                .unwrap();
                prop_assert_eq!(fused, crate::top_k(got.view(), k).unwrap());
                let alone = vote_scores(votes.slice(s![.., ..1]), c, kind).unwrap();
                prop_assert_eq!(alone[0].to_bits(), got[0].to_bits());
            }
        }
    }

    /// A committee of `m` members over `n` rows and `c` classes from a fixed xorshift stream,
    /// with exact zeros, tiny values and one-hot rows.
    fn pseudo_random_committee(m: usize, n: usize, c: usize) -> Array3<f64> {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d_u64 ^ (m * 1000 + c) as u64);
        let mut p = Array3::<f64>::zeros((m, n, c));
        for mut member in p.outer_iter_mut() {
            for (r, mut row) in member.rows_mut().into_iter().enumerate() {
                row.mapv_inplace(|_| rng.probability());
                if r % 5 == 0 || row.sum() < 1e-20 {
                    row.fill(0.0);
                    row[(rng.0 % c as u64) as usize] = 1.0;
                }
                let s: f64 = row.sum();
                row /= s;
            }
        }
        p
    }

    #[test]
    fn many_groups_and_blocks_match_the_reference() {
        // Pools over several blocks, most of several groups (a group holds 16384 / c rows, at
        // most a block); widths on both sides of the 16 lanes of the row pass.
        for (m, c) in [(3, 2), (4, 7), (2, 16), (5, 37), (3, 100)] {
            let n = 2 * BLOCK + 1234;
            let p = pseudo_random_committee(m, n, c);
            let p32 = p.mapv(|x| x as f32);
            for kind in MEASURES {
                let want = reference(&p, kind);
                let got = committee_scores(p.view(), kind, 1e-9).unwrap();
                let got32 = committee_scores(p32.view(), kind, 1e-4).unwrap();
                for r in 0..n {
                    assert!((got[r] - want[r]).abs() < 1e-12, "{kind:?} c={c} row {r}");
                    assert!((f64::from(got32[r]) - want[r]).abs() < 2e-5);
                }
                // Rows at group and block edges score alone as they do in the pool.
                let group = (GROUP_VALUES / c).min(BLOCK);
                for r in [0, group - 1, group, BLOCK - 1, BLOCK, BLOCK + group, n - 1] {
                    let alone = committee_scores(p32.slice(s![.., r..r + 1, ..]), kind, 1e-4);
                    assert_eq!(alone.unwrap()[0].to_bits(), got32[r].to_bits(), "row {r}");
                }
                let k = 50;
                let fused = committee_top_k(p32.view(), kind, k, 1e-4).unwrap();
                assert_eq!(fused, crate::top_k(got32.view(), k).unwrap());
            }
        }
    }

    #[test]
    fn votes_that_split_alike_tie_exactly() {
        // Row r: classes (r, r + 1, r + 2) % 5 get 3, 2 and 1 of the 6 votes.
        let n = 40;
        let votes = Array2::from_shape_fn((6, n), |(i, r)| {
            let offset = [0, 0, 0, 1, 1, 2][i];
            ((r + offset) % 5) as i64
        });
        let s = vote_scores(votes.view(), 5, VoteMeasure::VoteEntropy).unwrap();
        assert!(s.iter().all(|v| v.to_bits() == s[0].to_bits()));
        let top = vote_top_k(votes.view(), 5, VoteMeasure::VoteEntropy, 3).unwrap();
        assert_eq!(top.indices, vec![0, 1, 2]);
    }

    #[test]
    fn every_instruction_set_updates_the_mean_identically() {
        let p = pseudo_random_committee(1, 300, 37);
        let x = p.as_slice().unwrap();
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let run = |isa: Isa| {
            let mut acc = vec![0.25_f64; x.len()];
            elementwise(isa, &mut acc, x, Op::Add);
            elementwise(isa, &mut acc, &[3.0], Op::Divide);
            let mut sq = vec![0.5_f64; x.len()];
            elementwise(isa, &mut sq, x, Op::AddSquaredDeviation(&acc));
            acc.extend(sq);
            let mut acc32 = vec![0.25_f32; x.len()];
            elementwise(isa, &mut acc32, &x32, Op::Add);
            elementwise(isa, &mut acc32, &[3.0], Op::Divide);
            let mut sq32 = vec![0.5_f32; x32.len()];
            elementwise(isa, &mut sq32, &x32, Op::AddSquaredDeviation(&acc32));
            acc32.extend(sq32);
            (acc, acc32)
        };
        let (want, want32) = run(Isa::Baseline);
        for isa in crate::isa::supported_isas() {
            let (got, got32) = run(isa);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{isa:?}"
            );
            assert!(got32
                .iter()
                .zip(&want32)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn a_member_with_a_missing_class_is_fine() {
        // Member 1 never saw class 2: its column is zero.
        let p = array![[[0.2_f64, 0.3, 0.5]], [[0.4, 0.6, 0.0]]];
        let want = reference(&p.to_owned(), Disagreement::MeanKl);
        let got = committee_scores(p.view(), Disagreement::MeanKl, 1e-9).unwrap();
        assert!((got[0] - want[0]).abs() < 1e-12);
        assert!(got[0] > 0.0);
    }
}
