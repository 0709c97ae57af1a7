//! Exact k-center greedy (farthest-first traversal; Gonzalez 1985, Sener & Savarese 2018).
//!
//! Each pick is the pool row farthest from its nearest centre (labelled rows and earlier
//! picks), ties by the lowest index. The selections are those of the plain eager greedy
//! that keeps one min-distance vector and updates all of it after every pick, with squared
//! distances from [`crate::distance`] (bit-identical to NumPy's `((X - c) ** 2).sum(axis=1)` in
//! `f64`), but far fewer distances are evaluated:
//!
//! * Lazy updates. A row's stored squared distance is an upper bound on its distance to the
//!   current centres: it is exact for the centres the row has been compared with, and later
//!   centres can only lower it. Rows sit in a bucket queue by bound ([`crate::buckets`]):
//!   the rows of the highest non-empty bucket are brought up to date together, against the
//!   centres added since each one's last update, and move to the buckets of their new
//!   bounds; once every row left in the highest bucket is up to date, its largest bound is
//!   exact and no other row can beat it (their true values are at most their bounds), so it is
//!   the exact argmax, lowest index among ties, as in the eager greedy. A row being brought
//!   up to date stops after the first block of 16 picks that takes its bound below the
//!   highest bucket: it cannot be the next pick, and its bound (from the picks it has met,
//!   which it remembers) is still an upper bound; it meets the rest only if it reaches the
//!   top again. On MNIST-PCA50, k = 1000, that halves the distances evaluated.
//! * Triangle inequality. When row `x` with nearest centre `a` at distance `u` is compared with
//!   a later centre `c`, `d(x, c) >= d(a, c) - u >= D_c - u`, where `D_c` is `c`'s own distance
//!   to its nearest earlier centre when it was picked. If `D_c >= 2u` (with a safety margin far
//!   above rounding), `c` cannot bring `x` below `u`, and is skipped without evaluating it.
//!   This costs nothing to store: `D_c` is the distance the kernel returns for each pick.
//! * A filter in front of the exact distances. A row is compared with the picks through
//!   their dot products, `d` vector multiply-adds for 16 picks at once over a transposed copy
//!   of the picks' coordinates (no horizontal sums), giving `|x|^2 + |c|^2 - 2 x.c` with a
//!   proven bound on its rounding ([`crate::distance`]'s `Filter`). A pick whose estimate is
//!   at least the row's current distance plus that slack cannot lower it; only the others
//!   (mostly the one that does lower it) are computed exactly, in `f64` in NumPy's order. Rows
//!   are brought up to date four at a time, sharing the loads of each block of the filter,
//!   each with the result it gets alone.
//! * Exact distances to the labelled centres only where needed. The first pass computes none:
//!   a row enters the queue with the filter's upper bound on its distance to the nearest
//!   labelled centre (the smallest estimate plus its slack) as its bound. An upper bound is
//!   all the queue and the tests above need (they only ever rule a centre out against it,
//!   and it only falls). When the largest bound of an up-to-date top bucket belongs to a row
//!   whose exact distances to the labelled centres are not yet folded in ([`Item`]'s
//!   `folded`), those the filter does not rule out are computed and folded in first (the
//!   row's exact distance to its nearest centre is the minimum of the bound and those); the
//!   row is picked if its bound stays, and filed again by its exact bound otherwise. Most rows
//!   never reach the top: on the 100k x 64 mixture this saves about 4.5 ms of a 30 ms run
//!   (`docs/kcenter.md`).
//!
//! Values whose squares or products overflow. Rows are finite (checked), but the
//! `f32` filter's dot products overflow from about `sqrt(f32::MAX)` up, and in `f64` squared
//! distances overflow to `inf` from about `1.3e154` up. Both are handled exactly, not
//! rejected: a filter bound that is not finite bounds nothing (the pick's distance is computed
//! exactly; an `f32` pool's exact distances, in `f64`, never overflow), and the
//! triangle-inequality test never skips a pick while `4 u` is infinite (`inf >= inf` would
//! skip picks that are nearer). A squared distance that overflows is `inf`, as in NumPy's
//! greedy, and `inf` ties with `inf`: the lowest index is picked first, as among any equal
//! distances, and such a pick is reported at distance `inf`.
//!
//! Threads. The first pass and the queue's build run on the rayon pool. The queue loop runs
//! on the calling thread with helper threads of its own (one fewer than the pool's; none for
//! pools under [`SHARED_POOL`] rows): a step with at least [`SHARED_STEP`] stale rows sends
//! each helper a share (and the picks made since its last share; each helper keeps its own
//! copy of the filter), brings its own share up to date meanwhile, takes back any share a
//! helper has not started on by then (a helper may have no core: after a fit, a BLAS
//! library's threads may still be spinning on them), then files every row. Helpers spin
//! between steps (yielding often): a step lasts tens of microseconds, about seven a pick, too
//! short for a pool whose idle workers yield and sleep between them. Every row gets the
//! update it gets on one thread, so the evaluations do not depend on the thread count either.
//!
//! `docs/kcenter.md` has the designs measured against this one and the commands that rerun
//! the measurements.
//!
//! Memory is linear in the pool: a queue entry per row (32 bytes: bound, squared norm, index,
//! pick counter, `folded`, padding; the buckets start with room for half as many again, so up
//! to 48 bytes a row), the first pass's bound and norm vectors (16 bytes a row, freed once the
//! queue is built), the queue's bucket of each row while it is built (4 bytes), and the
//! transposed picks (`k d` values, and a copy a helper thread).

use crate::buckets::{Buckets, Item};
use crate::cancel::Cancel;
use crate::distance::{
    best_isa, check_finite, check_same_width, filtered_update, filtered_update4, first_block,
    prefetch_row, row, sq_norm, Filter, Isa, Order, Picks, RowUpdate, FILTER_LANES,
};
use crate::error::{Input, KernelError, Result};
use crate::real::Real;
use crate::topk::check_k;
use ndarray::ArrayView2;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// `D_c^2 >= 4 u^2 * PRUNE_MARGIN` skips centre `c`. The margin covers the relative rounding
/// of the computed distances (at most a few times `d * 2^-53`) many times over.
const PRUNE_MARGIN: f64 = 1.0 + 1e-6;

/// Rows a bucket of the queue holds when it is built: enough that a bucket is worth
/// spreading over the threads, few enough that little of the last one before a pick is
/// brought up to date for nothing (measured: `docs/kcenter.md`).
const PER_BUCKET: usize = 128;

/// Steps with at least this many stale rows are shared with the helper threads.
const SHARED_STEP: usize = 32;

/// Pools of fewer rows get no helper threads: starting one costs about 30 microseconds
/// (measured: a 2-thread call on 200 rows took 175-181 us with one, 147-148 us without).
const SHARED_POOL: usize = 4096;

/// A picked row's entry in `bound`: it never enters the queue again.
const PICKED: f64 = f64::NEG_INFINITY;

/// Fill `norms` and `bound` for every row of the pool in parallel, a block of rows at a time:
/// `each(start, norms, bounds)` gets the block's first row and its slices of `norms` and
/// `bound`, writes the rows' squared norms and an upper bound on their squared distances to
/// the nearest starting centre, and returns the distances it evaluated (summed and returned).
fn first_pass(
    norms: &mut [f64],
    bound: &mut [f64],
    cancel: &Cancel,
    each: impl Fn(usize, &mut [f64], &mut [f64]) -> u64 + Sync,
) -> Result<u64> {
    const BLOCK: usize = 1024;
    let evals = norms
        .par_chunks_mut(BLOCK)
        .zip(bound.par_chunks_mut(BLOCK))
        .enumerate()
        .map(|(b, (nb, ub))| {
            cancel.check()?;
            Ok(each(b * BLOCK, nb, ub))
        })
        .collect::<Result<Vec<u64>>>()?;
    Ok(evals.iter().sum())
}

/// Set pick `j`'s prune bound, keeping `prune` padded to whole blocks of the filter (as
/// [`Picks`] wants: the block's tests read all its lanes at once).
fn set_prune(prune: &mut Vec<f64>, j: usize, v: f64) {
    if prune.len() <= j {
        prune.resize((j + 1).next_multiple_of(FILTER_LANES), 0.0);
    }
    if let Some(slot) = prune.get_mut(j) {
        *slot = v;
    }
}

/// Position of the row with the largest bound in `rows`, the lowest index among ties.
fn argmax(rows: &[Item]) -> Option<usize> {
    let mut best: Option<(usize, &Item)> = None;
    for (pos, r) in rows.iter().enumerate() {
        if best.is_none_or(|(_, b)| r.bound > b.bound || (r.bound == b.bound && r.index < b.index))
        {
            best = Some((pos, r));
        }
    }
    best.map(|(pos, _)| pos)
}

/// The picks of [`kcenter_greedy`].
#[derive(Debug, Clone, PartialEq)]
pub struct KCenter {
    /// Pool rows in pick order.
    pub indices: Vec<usize>,
    /// For each pick, its Euclidean distance to the nearest centre when it was picked (the
    /// max-min distance); `+inf` for a cold-start first pick. Never increases.
    pub distances: Vec<f64>,
    /// Number of point-to-centre distances evaluated, estimated or exact (the eager greedy
    /// evaluates `n` per centre; a row compared with the labelled centres a second time, to
    /// fold in their exact distances, counts them again: at most `n m` more).
    pub evaluations: u64,
}

/// Farthest-first traversal of `pool` (n, d) starting from `centers` (m, d), `k` picks.
///
/// With `m == 0` the traversal starts at `first` (the caller's seeded random choice), which is
/// the first pick and is reported at distance `+inf`; with `m > 0`, `first` must be `None`.
/// Rows of `centers` are not pool rows: `k` may be any of `1..=n`. Duplicated rows are picked
/// once their copies are exhausted, at distance 0, lowest index first.
///
/// Checks `cancel` before each step of the queue and between blocks of the first pass.
///
/// # Errors
/// [`KernelError::InvalidK`], [`KernelError::WidthMismatch`], [`KernelError::MissingFirst`],
/// [`KernelError::FirstWithCentres`], [`KernelError::InvalidFirst`],
/// [`KernelError::NonFinite`] naming the first bad row of `pool` or `centers`,
/// [`KernelError::TooManyRows`] for pools of more than `u32::MAX` rows,
/// [`KernelError::Cancelled`].
///
/// # Examples
/// ```
/// use activekit_core::{kcenter_greedy, Cancel};
/// use ndarray::{array, Array2};
/// let pool = array![[0.0_f64], [1.0], [5.0], [9.0], [10.0]];
/// let none = Array2::<f64>::zeros((0, 1));
/// let picks = kcenter_greedy(pool.view(), none.view(), 3, Some(0), &Cancel::new()).unwrap();
/// assert_eq!(picks.indices, vec![0, 4, 2]);
/// assert_eq!(picks.distances, vec![f64::INFINITY, 10.0, 5.0]);
/// ```
pub fn kcenter_greedy<T: Real>(
    pool: ArrayView2<T>,
    centers: ArrayView2<T>,
    k: usize,
    first: Option<usize>,
    cancel: &Cancel,
) -> Result<KCenter> {
    greedy(pool, centers, k, first, cancel, Tuning::default())
}

/// The queue's knobs, for the tests: small buckets and shares make small pools exercise what
/// large ones do, and a helper that waits before starting on each share makes the calling
/// thread take shares back.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// Rows a bucket of the queue holds when it is built.
    per_bucket: usize,
    /// Steps with at least this many stale rows are shared with the helper threads.
    shared_step: usize,
    /// Pools of fewer rows get no helper threads (starting one costs more than it saves).
    shared_pool: usize,
    /// How long a helper waits before it starts on a share.
    helper_lag: std::time::Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            per_bucket: PER_BUCKET,
            shared_step: SHARED_STEP,
            shared_pool: SHARED_POOL,
            helper_lag: std::time::Duration::ZERO,
        }
    }
}

/// [`kcenter_greedy`] with the knobs of `tuning`.
fn greedy<T: Real>(
    pool: ArrayView2<T>,
    centers: ArrayView2<T>,
    k: usize,
    first: Option<usize>,
    cancel: &Cancel,
    tuning: Tuning,
) -> Result<KCenter> {
    let Tuning {
        per_bucket,
        shared_step,
        shared_pool,
        helper_lag,
    } = tuning;
    let (n, d) = pool.dim();
    let m = centers.nrows();
    check_k(k, n)?;
    if u32::try_from(n).is_err() {
        return Err(KernelError::TooManyRows {
            n,
            max: u32::MAX as usize,
        });
    }
    check_same_width(pool, Input::Pool, centers, Input::Centers)?;
    match (m, first) {
        (0, None) => return Err(KernelError::MissingFirst),
        (0, Some(f)) if f >= n => return Err(KernelError::InvalidFirst { first: f, n }),
        (m, Some(_)) if m > 0 => return Err(KernelError::FirstWithCentres { m }),
        _ => {}
    }
    // The pool's rows are checked by the first pass (below), from their squared norms; a bad
    // pool row is named before a bad centre, so with bad centres the pool is checked first.
    if let Err(e) = check_finite(centers, Input::Centers) {
        check_finite(pool, Input::Pool)?;
        return Err(e);
    }

    let pool = pool.as_standard_layout();
    let centers = centers.as_standard_layout();
    let (xs, cs) = match (pool.as_slice(), centers.as_slice()) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("standard layout is contiguous"),
    };

    let mut picks = KCenter {
        indices: Vec::with_capacity(k),
        distances: Vec::with_capacity(k),
        evaluations: 0,
    };
    // `prune[j]`: the squared pick distance of pick j, for the triangle-inequality test
    // (0, which prunes nothing, for a cold start's first pick); padded to whole blocks of the
    // filter.
    let mut prune: Vec<f64> = Vec::with_capacity(k.next_multiple_of(FILTER_LANES));

    // First pass, parallel over pool rows: each row's squared norm (for the filter) and an
    // upper bound on its squared distance to the nearest starting centre (its exact distance
    // to a cold start's first pick).
    let mut norms = vec![0.0_f64; n];
    let mut bound = vec![f64::INFINITY; n];
    let mut filter = Filter::new(d);
    // The starting centres' filter, indices and prune bounds (zeros: the triangle-inequality
    // test never rules them out), for the first pass and for folding in exact distances.
    let mut labelled = Filter::new(d);
    let starting_ids: Vec<usize> = (0..m).collect();
    let starting_prune = vec![0.0; m.next_multiple_of(FILTER_LANES)];
    let isa = best_isa();
    let seen_init: u32 = match first {
        Some(f) => {
            let start = row(xs, d, f);
            let nf = sq_norm(start);
            first_pass(&mut norms, &mut bound, cancel, |first, nb, ub| {
                crate::distance::sq_norms(isa, &xs[first * d..], d, nb);
                for (t, u) in ub.iter_mut().enumerate() {
                    *u = crate::distance::sq_dist_isa(isa, row(xs, d, first + t), start);
                }
                nb.len() as u64
            })?;
            picks.evaluations += n as u64;
            picks.indices.push(f);
            picks.distances.push(f64::INFINITY);
            set_prune(&mut prune, 0, 0.0);
            filter.push(start, nf);
            1
        }
        None => {
            for j in 0..m {
                labelled.push(row(cs, d, j), sq_norm(row(cs, d, j)));
            }
            let centres = starting(&labelled, &starting_ids, &starting_prune, cs, d);
            // An upper bound only: the filter's estimate plus its slack for the nearest starting
            // centre is the row's bound in the queue. The exact distances are folded in only
            // for a row that may be the next pick (`Loop::run`); most rows never get there
            // (`docs/kcenter.md`).
            let evals = first_pass(&mut norms, &mut bound, cancel, |first, nb, ub| {
                first_block(isa, &centres, &xs[first * d..], d, nb, ub);
                (m * nb.len()) as u64
            })?;
            picks.evaluations += evals;
            0
        }
    };
    // A row is finite exactly when its squared norm is, unless the squares overflow (`f64`
    // values from about 1.3e154 up): only rows with a norm that is not finite are read again.
    // This saves the separate pass over the pool that `check_finite` is (about a tenth of a
    // `k = 1` call on 100k x 64, `docs/kcenter.md`). Non-finite rows went through the first
    // pass as NaNs and infinities, which the arithmetic carries without a panic.
    if let Some(bad) =
        (0..n).find(|&i| !norms[i].is_finite() && !row(xs, d, i).iter().all(|v| v.is_finite()))
    {
        return Err(KernelError::NonFinite {
            what: Input::Pool,
            row: bad,
        });
    }
    // The queue holds every row but a cold start's first pick, each up to date with the
    // starting centres (`seen_init` picks: none, or the first pick).
    if let Some(slot) = first.and_then(|f| bound.get_mut(f)) {
        *slot = PICKED;
    }
    // A cold start's bounds are exact (there are no starting centres to fold in).
    let folded = first.is_some();
    let queue = Buckets::build(&bound, &norms, seen_init, folded, PICKED, per_bucket);
    drop(bound);
    drop(norms);
    let state = Loop {
        xs,
        d,
        k,
        isa,
        shared_step,
        queue,
        picks,
        prune,
        filter,
        cs,
        starting_ids,
        starting_prune,
        labelled,
    };
    let helpers = rayon::current_num_threads().saturating_sub(1);
    if helpers == 0 || n < shared_pool {
        return state.run(&[], cancel);
    }
    // The steps are short (tens of microseconds, about seven a pick), too short for a pool
    // whose idle workers yield and sleep between them: helper threads of this call's own
    // spin between steps instead (`docs/kcenter.md`).
    std::thread::scope(|scope| {
        let crew: Vec<Mate> = (0..helpers)
            .map(|_| {
                let (to_mate, jobs) = mpsc::channel::<Job>();
                let (to_main, done) = mpsc::channel::<Vec<(Item, u64)>>();
                let indices = state.picks.indices.clone();
                let (prune, filter) = (state.prune.clone(), state.filter.clone());
                let lag = helper_lag;
                scope.spawn(move || {
                    mate(xs, d, isa, (indices, prune, filter), lag, &jobs, &to_main)
                });
                Mate {
                    jobs: to_mate,
                    done,
                    known: state.picks.indices.len(),
                }
            })
            .collect();
        state.run(&crew, cancel)
        // Dropping `crew` closes the channels: the helpers return, and the scope joins them.
    })
}

/// The queue loop's state after the first pass.
struct Loop<'a, T> {
    xs: &'a [T],
    d: usize,
    k: usize,
    isa: Isa,
    shared_step: usize,
    queue: Buckets,
    picks: KCenter,
    prune: Vec<f64>,
    filter: Filter<T>,
    /// The starting centres (rows of `cs`) and their filter, for rows whose exact distances
    /// to them are folded in when they may be the next pick.
    cs: &'a [T],
    labelled: Filter<T>,
    /// Their indices (`0..m`) and prune bounds (zeros, padded to whole filter blocks).
    starting_ids: Vec<usize>,
    starting_prune: Vec<f64>,
}

/// The starting centres `cs` (filter `labelled`, `indices` `0..m`, `zeros` their prune bounds
/// padded to whole blocks of the filter) as the picks of a row update: no triangle-inequality
/// test (their prune bounds are 0), so their order is free and the smallest lower bound goes
/// first.
fn starting<'a, T>(
    labelled: &'a Filter<T>,
    indices: &'a [usize],
    zeros: &'a [f64],
    cs: &'a [T],
    d: usize,
) -> Picks<'a, T> {
    Picks {
        indices,
        prune: zeros,
        filter: labelled,
        xs: cs,
        d,
        margin: PRUNE_MARGIN,
        order: Order::SmallestBoundFirst,
        stop_below: f64::NEG_INFINITY,
    }
}

/// A step's share of stale rows for a helper thread, with the picks made since its last share
/// (index, prune bound, squared norm) and the step's stop.
struct Job {
    new_picks: Vec<(usize, f64, f64)>,
    stop_below: f64,
    rows: Vec<Item>,
    /// Set by whichever of the helper and the calling thread starts on the rows first: a
    /// helper that has not started when the calling thread is done with its own share (it
    /// may have no core: another process's threads may hold them) loses its share to it.
    claimed: Arc<AtomicBool>,
}

/// The main thread's end of a helper: where its jobs go, where its results come back, and
/// how many picks it knows.
struct Mate {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Vec<(Item, u64)>>,
    known: usize,
}

/// Spins between two yields of a waiting thread's core (a few microseconds): a step's wait
/// is short, but another process's threads (a BLAS library's, still spinning after a
/// matrix product) may want the core meanwhile.
const SPINS: u32 = 256;

/// The next message on `rx`, spinning while there is none and yielding the core every
/// [`SPINS`] spins; `None` once the sender is gone.
fn spin_recv<M>(rx: &mpsc::Receiver<M>) -> Option<M> {
    let mut spins = 0;
    loop {
        match rx.try_recv() {
            Ok(m) => return Some(m),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) => {
                spins += 1;
                if spins % SPINS == 0 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// A helper thread: its own copy of the picks, brought up to date from each job, and the
/// job's rows brought up to date against them (the calling thread files them).
#[allow(clippy::too_many_arguments)]
fn mate<T: Real>(
    xs: &[T],
    d: usize,
    isa: Isa,
    (mut indices, mut prune, mut filter): (Vec<usize>, Vec<f64>, Filter<T>),
    lag: std::time::Duration,
    jobs: &mpsc::Receiver<Job>,
    to_main: &mpsc::Sender<Vec<(Item, u64)>>,
) {
    while let Some(job) = spin_recv(jobs) {
        for (i, b, norm) in job.new_picks {
            set_prune(&mut prune, indices.len(), b);
            indices.push(i);
            filter.push(row(xs, d, i), norm);
        }
        if !lag.is_zero() {
            std::thread::sleep(lag);
        }
        if job.claimed.swap(true, Ordering::AcqRel) {
            continue; // the calling thread took these rows: it expects nothing back
        }
        let earlier = Picks {
            indices: &indices,
            prune: &prune,
            filter: &filter,
            xs,
            d,
            margin: PRUNE_MARGIN,
            order: Order::PickOrder,
            stop_below: job.stop_below,
        };
        let mut out = vec![(Item::default(), 0); job.rows.len()];
        update_rows(isa, &earlier, &job.rows, &mut out);
        if to_main.send(out).is_err() {
            return;
        }
    }
}

impl<T: Real> Loop<'_, T> {
    /// The queue loop (see [`kcenter_greedy`]), with `crew` bringing shares of the larger
    /// steps' stale rows up to date beside this thread.
    fn run(mut self, crew: &[Mate], cancel: &Cancel) -> Result<KCenter> {
        let (xs, d, isa) = (self.xs, self.d, self.isa);
        let mut known: Vec<usize> = crew.iter().map(|m| m.known).collect();
        let mut stale: Vec<Item> = Vec::new();
        let mut lowered: Vec<(Item, u64)> = Vec::new();
        let mut sent: Vec<Option<Arc<AtomicBool>>> = Vec::new();
        while self.picks.indices.len() < self.k {
            cancel.check()?;
            let n_picked = self.picks.indices.len();
            let seen_all = u32::try_from(n_picked).unwrap_or(u32::MAX);
            let Some((j, mut rows)) = self.queue.take_top() else {
                // k <= n and each pick leaves the queue once: unreachable, but not worth a
                // panic.
                break;
            };
            stale.clear();
            rows.retain(|r| {
                let fresh = r.seen == seen_all;
                if !fresh {
                    stale.push(*r);
                }
                fresh
            });
            if stale.is_empty() {
                // Every row of the highest bucket is up to date: its largest bound (lowest
                // index among ties) is the exact argmax, once it is exact.
                let Some(pos) = argmax(&rows) else { break };
                let Some(&top) = rows.get(pos) else { break };
                if !top.folded {
                    // The bound may still be the first pass's upper bound on the distance to the
                    // starting centres: fold in the exact distances of those whose lower bounds
                    // do not rule them out. The result is the exact distance to the nearest
                    // centre: the minimum of the bound (an exact distance to a pick, or at
                    // least the distance to the nearest starting centre) and those distances.
                    // (A lower bound kept from the first pass could spare the rows whose bound
                    // came from a pick; computing it cost more than the folds it spared.)
                    let (ids, zeros) = (&self.starting_ids, &self.starting_prune);
                    let centres = starting(&self.labelled, ids, zeros, self.cs, d);
                    let (u, evaluations, _) = filtered_update(
                        isa,
                        &centres,
                        RowUpdate {
                            x: row(xs, d, top.index as usize),
                            norm: top.norm,
                            from: 0,
                            u: top.bound,
                        },
                    );
                    self.picks.evaluations += evaluations;
                    let exact = Item {
                        bound: u,
                        folded: true,
                        ..top
                    };
                    if u < top.bound {
                        // No longer the largest, maybe: back in the queue by its exact bound.
                        rows.swap_remove(pos);
                        let to = self.queue.bucket_of(u);
                        if to == j {
                            rows.push(exact);
                        } else {
                            self.queue.push(to, exact);
                        }
                        self.queue.put_back(j, rows);
                        continue;
                    }
                    rows[pos] = exact;
                }
                let best = rows.swap_remove(pos);
                self.queue.put_back(j, rows);
                let i = best.index as usize;
                self.picks.indices.push(i);
                self.picks.distances.push(best.bound.sqrt());
                set_prune(&mut self.prune, n_picked, best.bound);
                self.filter.push(row(xs, d, i), best.norm);
                continue;
            }
            // Bring the stale rows up to date against the picks each has not met (a share on
            // each helper for a large step, the rest here), then file them by their new bounds.
            let stop_below = self.queue.lower_edge(j);
            let earlier = Picks {
                indices: &self.picks.indices,
                prune: &self.prune,
                filter: &self.filter,
                xs,
                d,
                margin: PRUNE_MARGIN,
                // The triangle-inequality test relies on it.
                order: Order::PickOrder,
                // A row that falls below the top bucket cannot be the next pick: it stops
                // there, filed by its (upper) bound with the picks it has met, and meets the
                // rest only if it ever reaches the top again.
                stop_below,
            };
            // Shares in multiples of four rows (the four-row update's unit): this thread's
            // first, then one a helper; the last helper's runs to the end.
            let parts = if stale.len() >= self.shared_step {
                crew.len() + 1
            } else {
                1
            };
            let cut = |t: usize| {
                if t >= parts {
                    stale.len()
                } else {
                    (t * stale.len() / parts)
                        .next_multiple_of(4)
                        .min(stale.len())
                }
            };
            let mine = cut(1);
            sent.clear();
            sent.resize(crew.len(), None);
            for (t, (mate, known)) in (1..parts).zip(crew.iter().zip(known.iter_mut())) {
                let rows = &stale[cut(t)..cut(t + 1)];
                if rows.is_empty() {
                    continue;
                }
                let new_picks = (*known..n_picked)
                    .map(|p| {
                        let i = self.picks.indices[p];
                        (i, self.prune[p], self.filter.norm(p))
                    })
                    .collect();
                *known = n_picked;
                let claimed = Arc::new(AtomicBool::new(false));
                let job = Job {
                    new_picks,
                    stop_below,
                    rows: rows.to_vec(),
                    claimed: Arc::clone(&claimed),
                };
                if mate.jobs.send(job).is_err() {
                    return Err(KernelError::Cancelled); // a helper is gone: it panicked
                }
                sent[t - 1] = Some(claimed);
            }
            lowered.clear();
            lowered.resize(mine, (Item::default(), 0));
            update_rows(isa, &earlier, &stale[..mine], &mut lowered);
            for (t, mate) in (1..parts).zip(crew) {
                let Some(claimed) = &sent[t - 1] else {
                    continue;
                };
                if !claimed.swap(true, Ordering::AcqRel) {
                    // The helper has not started on its share: this thread does it.
                    let (from, to) = (cut(t), cut(t + 1));
                    lowered.resize(lowered.len() + to - from, (Item::default(), 0));
                    let at = lowered.len() - (to - from);
                    update_rows(isa, &earlier, &stale[from..to], &mut lowered[at..]);
                    continue;
                }
                let Some(theirs) = spin_recv(&mate.done) else {
                    return Err(KernelError::Cancelled);
                };
                lowered.extend(theirs);
            }
            for &(item, evaluations) in &lowered {
                self.picks.evaluations += evaluations;
                let to = self.queue.bucket_of(item.bound);
                if to == j {
                    rows.push(item);
                } else {
                    self.queue.push(to, item);
                }
            }
            self.queue.put_back(j, rows);
        }
        Ok(self.picks)
    }
}

/// Bring the queue items `stale` (rows of `earlier.xs`) up to date against the picks of
/// `earlier` each has not met, and write each one's new item and the distances it evaluated
/// to `out`. Four rows at a time share each block of the filter, each fetching the next four
/// rows ahead; the rest one by one.
fn update_rows<T: Real>(isa: Isa, earlier: &Picks<'_, T>, stale: &[Item], out: &mut [(Item, u64)]) {
    let (rows, d) = (earlier.xs, earlier.d);
    let seen_all = u32::try_from(earlier.indices.len()).unwrap_or(u32::MAX);
    let stale_row = |r: &Item| RowUpdate {
        x: row(rows, d, r.index as usize),
        norm: r.norm,
        from: r.seen as usize,
        u: r.bound,
    };
    let item = |r: &Item, u: f64, met: usize| Item {
        bound: u,
        seen: u32::try_from(met).unwrap_or(seen_all),
        ..*r
    };
    let mut quads = stale
        .chunks_exact(4)
        .zip(out.chunks_exact_mut(4))
        .peekable();
    while let Some((rs, slots)) = quads.next() {
        if let Some((next, _)) = quads.peek() {
            for r in next.iter() {
                prefetch_row(row(rows, d, r.index as usize));
            }
        }
        let rows4 = [0, 1, 2, 3].map(|t| stale_row(&rs[t]));
        let (us, evaluations, met) = filtered_update4(isa, earlier, rows4);
        for (t, slot) in slots.iter_mut().enumerate() {
            *slot = (item(&rs[t], us[t], met[t]), evaluations[t]);
        }
    }
    let done = stale.len() - stale.len() % 4;
    for (r, slot) in stale[done..].iter().zip(out[done..].iter_mut()) {
        let (u, evaluations, met) = filtered_update(isa, earlier, stale_row(r));
        *slot = (item(r, u, met), evaluations);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::sq_dist;
    use ndarray::Array2;
    use proptest::prelude::*;

    /// The plain eager greedy: one min-distance vector updated after every pick.
    fn eager(
        pool: &Array2<f64>,
        centers: &Array2<f64>,
        k: usize,
        first: Option<usize>,
    ) -> (Vec<usize>, Vec<f64>) {
        let n = pool.nrows();
        let dist = |a: usize, c: &[f64]| sq_dist(pool.row(a).as_slice().unwrap(), c);
        let mut min = vec![f64::INFINITY; n];
        for j in 0..centers.nrows() {
            for (i, v) in min.iter_mut().enumerate() {
                *v = v.min(dist(i, centers.row(j).as_slice().unwrap()));
            }
        }
        let mut taken = vec![false; n];
        let (mut idx, mut out) = (vec![], vec![]);
        let mut next = first;
        while idx.len() < k {
            let pick = next.take().unwrap_or_else(|| {
                let mut best = None::<usize>;
                for i in 0..n {
                    if !taken[i] && best.is_none_or(|b| min[i] > min[b]) {
                        best = Some(i);
                    }
                }
                best.unwrap()
            });
            taken[pick] = true;
            idx.push(pick);
            out.push(min[pick].sqrt());
            let c = pool.row(pick).to_vec();
            for (i, v) in min.iter_mut().enumerate() {
                *v = v.min(dist(i, &c));
            }
        }
        (idx, out)
    }

    #[test]
    fn duplicates_and_k_above_distinct_rows() {
        let pool = Array2::from_shape_fn((6, 2), |(i, _)| (i % 2) as f64);
        let none = Array2::<f64>::zeros((0, 2));
        let got = kcenter_greedy(pool.view(), none.view(), 6, Some(3), &Cancel::new()).unwrap();
        assert_eq!(got.indices, vec![3, 0, 1, 2, 4, 5]);
        assert_eq!(got.distances[1], 2.0_f64.sqrt());
        assert!(got.distances[2..].iter().all(|&v| v == 0.0));
    }

    /// Issue 16's examples: finite values whose products (f32) or squares (f64) overflow.
    #[test]
    fn overflowing_values_give_the_eager_picks() {
        let pool = ndarray::array![[2e19_f32, 1.9e19], [0.0, 6e19], [1.0, 1.0]];
        let centres = ndarray::array![[-3e19_f32, -3e19], [-2e19, 1e19]];
        let got = kcenter_greedy(pool.view(), centres.view(), 3, None, &Cancel::new()).unwrap();
        assert_eq!(got.indices, vec![1, 0, 2]);
        let (_, dist) = eager(&pool.mapv(f64::from), &centres.mapv(f64::from), 3, None);
        assert_eq!(got.distances, dist);

        let pool = ndarray::array![[1e200_f64], [1e200], [5.0]];
        let centre = Array2::<f64>::zeros((1, 1));
        let got = kcenter_greedy(pool.view(), centre.view(), 2, None, &Cancel::new()).unwrap();
        assert_eq!(got.indices, vec![0, 2]);
        assert_eq!(got.distances, vec![f64::INFINITY, 5.0]);
    }

    #[test]
    fn errors() {
        let pool = Array2::<f32>::zeros((3, 2));
        let none = Array2::<f32>::zeros((0, 2));
        let one = Array2::<f32>::zeros((1, 2));
        let c = Cancel::new();
        let run = |p: &Array2<f32>, m: &Array2<f32>, k, f| {
            kcenter_greedy(p.view(), m.view(), k, f, &c).unwrap_err()
        };
        assert_eq!(
            run(&pool, &none, 4, Some(0)),
            KernelError::InvalidK { k: 4, n: 3 }
        );
        assert_eq!(run(&pool, &none, 1, None), KernelError::MissingFirst);
        assert_eq!(
            run(&pool, &none, 1, Some(3)),
            KernelError::InvalidFirst { first: 3, n: 3 }
        );
        assert_eq!(
            run(&pool, &one, 1, Some(0)),
            KernelError::FirstWithCentres { m: 1 }
        );
        let mut bad = one.clone();
        bad[[0, 1]] = f32::NAN;
        assert_eq!(
            run(&pool, &bad, 1, None),
            KernelError::NonFinite {
                what: Input::Centers,
                row: 0
            }
        );
        // The pool's rows are checked from their squared norms: rows whose squares overflow
        // (finite) pass, the lowest bad row is named, before any bad centre, from a cold start
        // too.
        let mut big = Array2::<f64>::from_elem((8, 2), 1e200);
        big[[5, 1]] = f64::NAN;
        big[[7, 0]] = f64::INFINITY;
        let none64 = Array2::<f64>::zeros((0, 2));
        let mut bad64 = Array2::<f64>::zeros((1, 2));
        bad64[[0, 0]] = f64::NEG_INFINITY;
        let pool_row_5 = KernelError::NonFinite {
            what: Input::Pool,
            row: 5,
        };
        for (centres, first) in [(&none64, Some(5)), (&none64, Some(0)), (&bad64, None)] {
            let got = kcenter_greedy(big.view(), centres.view(), 2, first, &c);
            assert_eq!(got.unwrap_err(), pool_row_5);
        }
        big[[5, 1]] = 1.0;
        big[[7, 0]] = -f64::MAX;
        let got = kcenter_greedy(big.view(), bad64.view(), 2, None, &c).unwrap_err();
        assert_eq!(
            got,
            KernelError::NonFinite {
                what: Input::Centers,
                row: 0
            }
        );
        assert!(kcenter_greedy(big.view(), none64.view(), 8, Some(0), &c).is_ok());
        let c2 = Cancel::new();
        c2.cancel();
        assert_eq!(
            kcenter_greedy(pool.view(), one.view(), 1, None, &c2).unwrap_err(),
            KernelError::Cancelled
        );
    }

    proptest! {
        #[test]
        fn matches_eager_greedy(
            n in 1..120usize, m in prop_oneof![0..5usize, 15..40usize], d in 1..6usize,
            vals in prop::collection::vec(prop_oneof![(-3i8..4).prop_map(f64::from), -1.0..1.0f64], 1..400),
            k_frac in 0.0..1.0f64, first_frac in 0.0..1.0f64, threads in 1..4usize,
            per_bucket in prop_oneof![Just(PER_BUCKET), 1..8usize],
            shared_step in prop_oneof![Just(SHARED_STEP), 1..9usize],
            lagging in prop::bool::weighted(0.2),
        ) {
            let pool = Array2::from_shape_fn((n, d), |(i, j)| vals[(i * d + j) % vals.len()]);
            let centers = Array2::from_shape_fn((m, d), |(i, j)| vals[(5 + 3 * i + j) % vals.len()] + 0.5);
            let k = 1 + ((n - 1) as f64 * k_frac) as usize;
            let first = (m == 0).then(|| ((n - 1) as f64 * first_frac) as usize);
            let run = |threads| crate::with_threads(threads, || {
                let helper_lag = std::time::Duration::from_micros(if lagging { 200 } else { 0 });
                let tuning = Tuning { per_bucket, shared_step, shared_pool: 0, helper_lag };
                greedy(pool.view(), centers.view(), k, first, &Cancel::new(), tuning)
            }).unwrap().unwrap();
            let got = run(threads);
            // The helper threads bring up to date exactly what one thread would.
            prop_assert_eq!(got.evaluations, run(1).evaluations);
            let (idx, dist) = eager(&pool, &centers, k, first);
            prop_assert_eq!(&got.indices, &idx);
            prop_assert_eq!(&got.distances, &dist);
            // The eager greedy's count, and the starting centres a second time for each row
            // whose exact distances to them are folded in (once at most).
            prop_assert!(got.evaluations <= (n as u64) * ((2 * m + k) as u64));
            prop_assert!(got.distances.windows(2).all(|w| w[1] <= w[0]));
        }

        /// f32 pools far from the origin, with small spreads: the filter's estimate
        /// `|x|^2 + |c|^2 - 2 x.c` cancels catastrophically there, so only its slack keeps
        /// the picks exact.
        #[test]
        fn matches_eager_greedy_in_f32_near_cancellation(
            n in 1..150usize, m in prop_oneof![0..4usize, 15..40usize], d in 1..40usize,
            offset in prop_oneof![Just(0.0f32), Just(1e3f32), Just(-3e4f32), 1e5f32..1e6f32],
            scale in prop_oneof![Just(1e-3f32), Just(1.0f32), 1e-4f32..10.0f32],
            vals in prop::collection::vec(-3i8..4, 1..300),
            noise in prop::collection::vec(-1.0f32..1.0, 1..97),
            k_frac in 0.0..1.0f64, first_frac in 0.0..1.0f64, per_bucket in 1..8usize,
        ) {
            let at = |i: usize, j: usize| {
                offset + scale * (f32::from(vals[(i * d + j) % vals.len()])
                    + noise[(i * 7 + j) % noise.len()])
            };
            let pool = Array2::from_shape_fn((n, d), |(i, j)| at(i, j));
            let centers = Array2::from_shape_fn((m, d), |(i, j)| at(n + 3 * i, j));
            let k = 1 + ((n - 1) as f64 * k_frac) as usize;
            let first = (m == 0).then(|| ((n - 1) as f64 * first_frac) as usize);
            let tuning = Tuning { per_bucket, shared_step: 1, shared_pool: 0, ..Tuning::default() };
            let got = greedy(pool.view(), centers.view(), k, first, &Cancel::new(), tuning)
                .unwrap();
            let (idx, dist) = eager(&pool.mapv(f64::from), &centers.mapv(f64::from), k, first);
            prop_assert_eq!(&got.indices, &idx);
            prop_assert_eq!(&got.distances, &dist);
        }

        /// Finite values up to the overflow edge (issue 16). In `f32` the filter's dot
        /// products overflow from about `sqrt(f32::MAX)` up while the exact distances (in
        /// `f64`) never do; in `f64` squared distances overflow to `inf`, which ties with
        /// `inf`, lowest index first, as in the eager greedy. Duplicated rows: an overflowed
        /// pick distance must not rule out the pick for a row whose bound is `inf` too.
        #[test]
        fn matches_eager_greedy_up_to_overflow(
            n in 1..60usize, m in prop_oneof![0..3usize, 15..20usize], d in 1..5usize,
            f32_pool in any::<bool>(),
            scale in prop_oneof![Just(2e19f64), Just(1e25), Just(1.7e38), Just(f64::from(f32::MAX)),
                                 Just(1e150), Just(1.4e154), Just(1e200), Just(1e300), Just(f64::MAX)],
            vals in prop::collection::vec(prop_oneof![
                (-3i8..4).prop_map(f64::from), -1.0..1.0f64, Just(1.0), Just(-1.0), Just(0.5),
            ], 1..40),
            rows in prop::collection::vec(0..1000usize, 1..60),
            k_frac in 0.0..1.0f64, first_frac in 0.0..1.0f64, threads in 1..3usize,
            per_bucket in prop_oneof![Just(PER_BUCKET), 1..4usize],
        ) {
            // In f32, scales above f32::MAX stand for f32::MAX; values in [-scale, scale] and
            // small integers, rows repeated from a few distinct ones.
            let top = if f32_pool { scale.min(f64::from(f32::MAX)) } else { scale };
            let at = |i: usize, j: usize| {
                let v = vals[(i * d + j) % vals.len()];
                if v.fract() == 0.0 && v.abs() > 1.0 { v } else { v * top }
            };
            let distinct = rows.len().min(n).max(1);
            let pool = Array2::from_shape_fn((n, d), |(i, j)| at(rows[i % rows.len()] % distinct, j));
            let centers = Array2::from_shape_fn((m, d), |(i, j)| at(7 + 3 * i, j));
            let k = 1 + ((n - 1) as f64 * k_frac) as usize;
            let first = (m == 0).then(|| ((n - 1) as f64 * first_frac) as usize);
            let run = |threads| -> KCenter {
                crate::with_threads(threads, || {
                    if f32_pool {
                        let (p, c) = (pool.mapv(|v| v as f32), centers.mapv(|v| v as f32));
                        greedy(p.view(), c.view(), k, first, &Cancel::new(), Tuning { per_bucket, shared_step: 4, shared_pool: 0, ..Tuning::default() })
                    } else {
                        greedy(pool.view(), centers.view(), k, first, &Cancel::new(), Tuning { per_bucket, shared_step: 4, shared_pool: 0, ..Tuning::default() })
                    }
                }).unwrap().unwrap()
            };
            let got = run(threads);
            let (p64, c64) = if f32_pool {
                (pool.mapv(|v| f64::from(v as f32)), centers.mapv(|v| f64::from(v as f32)))
            } else {
                (pool.clone(), centers.clone())
            };
            let (idx, dist) = eager(&p64, &c64, k, first);
            prop_assert_eq!(&got.indices, &idx);
            prop_assert_eq!(&got.distances, &dist);
            if f32_pool {
                let skip = usize::from(first.is_some());
                prop_assert!(got.distances[skip..].iter().all(|v| v.is_finite()));
            }
        }
    }
}
