//! Exact Euclidean distances between rows, and the nearest row of a set of centres.
//!
//! A squared distance is accumulated in `f64` from direct differences, `sum_j (x_j - c_j)^2`,
//! never through `|x|^2 - 2 x.c + |c|^2`, whose cancellation moves near-ties. The sum follows
//! NumPy's pairwise summation order (eight running sums over blocks of up to 128 terms, halves
//! above), so each value is bit-identical to `((X64 - c64) ** 2).sum(axis=1)` in NumPy and a
//! greedy built on these distances picks the same rows as the NumPy one.

use crate::cancel::Cancel;
use crate::error::{Input, KernelError, Result};
use crate::isa::dispatch;
pub(crate) use crate::isa::{best_isa, Isa};
use crate::real::Real;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Rows of `x` per parallel job.
const ROW_BLOCK: usize = 64;
/// Bytes of centres per block, so that a block stays in L2 while a row block streams past it.
const CENTRE_BLOCK_BYTES: usize = 128 * 1024;
/// NumPy's `PW_BLOCKSIZE`.
const PAIRWISE_BLOCK: usize = 128;

#[inline(always)]
fn sq<T: Real>(a: T, b: T) -> f64 {
    let d = a.to_f64_lossless() - b.to_f64_lossless();
    d * d
}

/// Squared distances of `a` to each of the `M` rows `bs` (all of `a`'s length), each in
/// NumPy's pairwise order for a block of at most [`PAIRWISE_BLOCK`] terms. Every distance
/// performs the same operations in the same order as with `M == 1`; several centres share the
/// loads and widenings of `a`.
#[inline(always)]
fn leaf<T: Real, const M: usize>(a: &[T], bs: [&[T]; M]) -> [f64; M] {
    let n = a.len();
    let mut res = [0.0_f64; M];
    if n < 8 {
        for (i, &x) in a.iter().enumerate() {
            for (r, b) in res.iter_mut().zip(bs) {
                *r += sq(x, b[i]);
            }
        }
        return res;
    }
    // The running sums start at +0.0 rather than at the first eight terms: `0.0 + t * t` is
    // exactly `t * t` (the square is never -0.0), and one loop shape vectorises cleanly.
    let full = n - n % 8;
    let a8 = &a[..full];
    let b8 = bs.map(|b| &b[..full]);
    let mut acc = [[0.0_f64; 8]; M];
    let mut i = 0;
    while i < full {
        let ca = &a8[i..i + 8];
        for (r, b) in acc.iter_mut().zip(&b8) {
            let cb = &b[i..i + 8];
            for l in 0..8 {
                let t = ca[l].to_f64_lossless() - cb[l].to_f64_lossless();
                r[l] += t * t;
            }
        }
        i += 8;
    }
    // Without this barrier LLVM shapes the loop's registers after the final pairwise sums
    // below (two lanes each) and moves lanes between registers on every iteration; it
    // changes no value.
    let acc = std::hint::black_box(acc);
    for ((res, r), b) in res.iter_mut().zip(&acc).zip(bs) {
        let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (&x, &y) in a[full..].iter().zip(&b[full..]) {
            s += sq(x, y);
        }
        *res = s;
    }
    res
}

/// Squared Euclidean distance of two equal-length rows, in NumPy's pairwise summation order
/// (baseline instructions; the hot loops use the dispatched variants, see [`Isa`]).
#[inline]
pub(crate) fn sq_dist<T: Real>(a: &[T], b: &[T]) -> f64 {
    baseline::sq_dist_m::<T, 1>(a, [b])[0]
}

// The distance loops run on the instruction set chosen by [`crate::isa`]: the baseline x86-64
// target has SSE2 (two f64 lanes); the eight running sums of a pairwise block are one AVX-512
// register or two AVX2 ones. Every variant gives bit-identical distances (checked by a test).

/// Picks per block of [`Filter`]'s transposed coordinates: one vector register of `f32`.
pub(crate) const FILTER_LANES: usize = 16;

/// The k-center greedy's picks as a cheap filter in front of exact distances: their
/// coordinates transposed in blocks of [`FILTER_LANES`] picks (block `b` holds coordinate `j`
/// of its picks at `b d L + j L + lane`), so that one row's dot products with a block of
/// picks are `d` vector multiply-adds with no horizontal sums, and their squared norms. The
/// estimate `|x|^2 + |c|^2 - 2 x.c` (dot products in `T`, norms in `f64`) is within
/// `slack(x, c) = 2 gamma |x| |c| + tiny (|x|^2 + |c|^2) + abs` of the exact squared
/// distance: `gamma` bounds the relative rounding of a `d`-term dot product in `T`
/// (`(d + 2) 2^-p`, `p` the precision, with room to spare), `tiny` the `f64` roundings
/// (the norms and the exact sum), `abs` underflow. A pick whose estimate minus its slack is
/// at least a row's current distance cannot lower it and is not evaluated exactly.
#[derive(Debug, Clone)]
pub(crate) struct Filter<T> {
    blocks: Vec<T>,
    /// Squared norms and norms of the picks, padded with zeros to whole blocks.
    norms: Vec<f64>,
    roots: Vec<f64>,
    len: usize,
    d: usize,
    gamma: f64,
    tiny: f64,
    abs: f64,
}

impl<T: Real> Filter<T> {
    pub(crate) fn new(d: usize) -> Self {
        let terms = (d + 2) as f64;
        // Unit roundoff of T (2^-24 for f32), doubled for the mul-then-add of every term.
        let unit = T::epsilon().to_f64_lossless();
        Self {
            blocks: Vec::new(),
            norms: Vec::new(),
            roots: Vec::new(),
            len: 0,
            d,
            gamma: 1.25 * terms * unit,
            tiny: 4.0 * terms * f64::EPSILON,
            abs: 4.0 * terms * T::min_positive_value().to_f64_lossless(),
        }
    }

    /// The squared norm of pick `p`.
    pub(crate) fn norm(&self, p: usize) -> f64 {
        self.norms.get(p).copied().unwrap_or(0.0)
    }

    /// Append a pick with coordinates `c` and squared norm `norm`.
    pub(crate) fn push(&mut self, c: &[T], norm: f64) {
        let p = self.len;
        let lane = p % FILTER_LANES;
        if lane == 0 {
            self.blocks
                .resize(self.blocks.len() + self.d * FILTER_LANES, T::zero());
            self.norms.resize(p + FILTER_LANES, 0.0);
            self.roots.resize(p + FILTER_LANES, 0.0);
        }
        let base = (p / FILTER_LANES) * self.d * FILTER_LANES;
        for (j, &v) in c.iter().enumerate() {
            if let Some(slot) = self.blocks.get_mut(base + j * FILTER_LANES + lane) {
                *slot = v;
            }
        }
        if let (Some(n), Some(r)) = (self.norms.get_mut(p), self.roots.get_mut(p)) {
            *n = norm;
            *r = norm.sqrt();
        }
        self.len += 1;
    }
}

/// Squared norm of a row, in `f64`, in eight running sums (any summation order is within
/// [`Filter`]'s `tiny`), independent so that they pipeline (see `docs/kcenter.md`).
/// Bit-identical on every instruction set ([`sq_norms`] is the dispatched version).
#[inline(always)]
pub(crate) fn sq_norm<T: Real>(x: &[T]) -> f64 {
    const W: usize = 8;
    let mut acc = [0.0_f64; W];
    let chunks = x.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            let v = v.to_f64_lossless();
            *a += v * v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        let v = v.to_f64_lossless();
        *a += v * v;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// The smaller of `a` and `b` (`a` if `b` is NaN), as one vector minimum.
#[inline(always)]
fn lesser(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Whether the triangle-inequality test skips a pick whose squared pick distance is `prune`
/// for a row whose cut is `cut = 4 u margin`: `prune >= cut`, but never for an infinite cut
/// (`u` infinite, or so large that `4 u` overflows), where `inf >= inf` would skip picks that
/// may well be nearer. With a finite cut an infinite `prune` still rules its pick out: that
/// pick's distance overflowed, so it is at least `f64::MAX` (within rounding) `>= cut`.
#[inline(always)]
fn rules_out(prune: f64, cut: f64) -> bool {
    cut < f64::INFINITY && prune >= cut
}

/// Whether the triangle-inequality test rules out every pick `lo..hi` for a row at `u`.
#[inline(always)]
fn block_ruled_out(prune: &[f64], lo: usize, hi: usize, u: f64, margin: f64) -> bool {
    let cut = 4.0 * u * margin;
    prune[lo..hi].iter().all(|&p| rules_out(p, cut))
}

/// `acc + x w`: one fused multiply-add with `FMA` (for instruction sets with a hardware one
/// only; elsewhere `mul_add` is a slow library call), else a multiply then an add. Either is
/// inside [`Filter`]'s bound.
#[inline(always)]
fn madd<T: Real, const FMA: bool>(acc: T, x: T, w: T) -> T {
    if FMA {
        x.mul_add(w, acc)
    } else {
        acc + x * w
    }
}

/// One row's dot products with a block of [`FILTER_LANES`] picks (`d` coordinates, each
/// `FILTER_LANES` lanes), in four running sums that break the chain of dependent additions.
#[inline(always)]
fn dots_1<T: Real, const FMA: bool>(xi: &[T], block: &[T]) -> [T; FILTER_LANES] {
    const L: usize = FILTER_LANES;
    let (mut a0, mut a1, mut a2, mut a3) = (
        [T::zero(); L],
        [T::zero(); L],
        [T::zero(); L],
        [T::zero(); L],
    );
    let quads = xi.chunks_exact(4).zip(block.chunks_exact(4 * L));
    for (v, w) in quads {
        let (Ok(v), Ok(w)) = (<&[T; 4]>::try_from(v), <&[T; 4 * L]>::try_from(w)) else {
            continue; // chunks_exact: never
        };
        for l in 0..L {
            a0[l] = madd::<T, FMA>(a0[l], v[0], w[l]);
            a1[l] = madd::<T, FMA>(a1[l], v[1], w[L + l]);
            a2[l] = madd::<T, FMA>(a2[l], v[2], w[2 * L + l]);
            a3[l] = madd::<T, FMA>(a3[l], v[3], w[3 * L + l]);
        }
    }
    let done = xi.len() - xi.len() % 4;
    let rest = xi[done..].iter().zip(block[done * L..].chunks_exact(L));
    for (&v, lanes) in rest {
        if let Ok(lanes) = <&[T; L]>::try_from(lanes) {
            for l in 0..L {
                a0[l] = madd::<T, FMA>(a0[l], v, lanes[l]);
            }
        }
    }
    let mut dots = [T::zero(); L];
    for l in 0..L {
        dots[l] = (a0[l] + a1[l]) + (a2[l] + a3[l]);
    }
    dots
}

/// Two rows' dot products with a block of picks, two running sums a row (four independent
/// chains), each coordinate of the block loaded once for the two. [`dots_4`] for two rows:
/// one generic function over the row count, with arrays of accumulators, compiled to code
/// 1.5x slower on the whole k-center greedy (`docs/kcenter.md`), so the two are written out.
#[inline(always)]
fn dots_2<T: Real, const FMA: bool>(xi: [&[T]; 2], block: &[T]) -> [[T; FILTER_LANES]; 2] {
    const L: usize = FILTER_LANES;
    let z = [T::zero(); L];
    let (mut a0, mut a1, mut b0, mut b1) = (z, z, z, z);
    let d = xi[0].len();
    let [x0, x1] = xi.map(|x| &x[..d]);
    for (j, w) in block.chunks_exact(2 * L).enumerate() {
        let Ok(w) = <&[T; 2 * L]>::try_from(w) else {
            continue;
        };
        let (i, k) = (2 * j, 2 * j + 1);
        for l in 0..L {
            a0[l] = madd::<T, FMA>(a0[l], x0[i], w[l]);
            a1[l] = madd::<T, FMA>(a1[l], x1[i], w[l]);
            b0[l] = madd::<T, FMA>(b0[l], x0[k], w[L + l]);
            b1[l] = madd::<T, FMA>(b1[l], x1[k], w[L + l]);
        }
    }
    if d % 2 == 1 {
        let i = d - 1;
        if let Some(Ok(w)) = block.get(i * L..(i + 1) * L).map(<&[T; L]>::try_from) {
            for l in 0..L {
                a0[l] = madd::<T, FMA>(a0[l], x0[i], w[l]);
                a1[l] = madd::<T, FMA>(a1[l], x1[i], w[l]);
            }
        }
    }
    let mut out = [z; 2];
    for l in 0..L {
        out[0][l] = a0[l] + b0[l];
        out[1][l] = a1[l] + b1[l];
    }
    out
}

/// Four rows' dot products with a block of picks, two running sums a row (eight independent
/// chains), each coordinate of the block loaded once for the four. With `FMA`, each term is
/// one fused multiply-add (one rounding instead of two: [`Filter`]'s bound covers both), for
/// instruction sets with a hardware one only (elsewhere `mul_add` is a slow library call).
#[inline(always)]
fn dots_4<T: Real, const FMA: bool>(xi: [&[T]; 4], block: &[T]) -> [[T; FILTER_LANES]; 4] {
    const L: usize = FILTER_LANES;
    let z = [T::zero(); L];
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    let (mut b0, mut b1, mut b2, mut b3) = (z, z, z, z);
    let d = xi[0].len();
    let [x0, x1, x2, x3] = xi.map(|x| &x[..d]);
    let pairs = block.chunks_exact(2 * L).enumerate();
    for (j, w) in pairs {
        let Ok(w) = <&[T; 2 * L]>::try_from(w) else {
            continue;
        };
        let (i, k) = (2 * j, 2 * j + 1);
        for l in 0..L {
            a0[l] = madd::<T, FMA>(a0[l], x0[i], w[l]);
            a1[l] = madd::<T, FMA>(a1[l], x1[i], w[l]);
            a2[l] = madd::<T, FMA>(a2[l], x2[i], w[l]);
            a3[l] = madd::<T, FMA>(a3[l], x3[i], w[l]);
            b0[l] = madd::<T, FMA>(b0[l], x0[k], w[L + l]);
            b1[l] = madd::<T, FMA>(b1[l], x1[k], w[L + l]);
            b2[l] = madd::<T, FMA>(b2[l], x2[k], w[L + l]);
            b3[l] = madd::<T, FMA>(b3[l], x3[k], w[L + l]);
        }
    }
    if d % 2 == 1 {
        let i = d - 1;
        if let Some(Ok(w)) = block.get(i * L..(i + 1) * L).map(<&[T; L]>::try_from) {
            for l in 0..L {
                a0[l] = madd::<T, FMA>(a0[l], x0[i], w[l]);
                a1[l] = madd::<T, FMA>(a1[l], x1[i], w[l]);
                a2[l] = madd::<T, FMA>(a2[l], x2[i], w[l]);
                a3[l] = madd::<T, FMA>(a3[l], x3[i], w[l]);
            }
        }
    }
    let mut out = [z; 4];
    for l in 0..L {
        out[0][l] = a0[l] + b0[l];
        out[1][l] = a1[l] + b1[l];
        out[2][l] = a2[l] + b2[l];
        out[3][l] = a3[l] + b3[l];
    }
    out
}

/// In which order a row meets the picks of a filter block whose lower bounds do not rule them
/// out. Either way the row ends at the same minimum; the order changes how many exact
/// distances it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// In pick order, so that the triangle-inequality test may use the current `u` (it holds
    /// for a `u` from earlier picks only). Needed once rows skip picks by that test.
    PickOrder,
    /// The pick with the smallest lower bound first (the first among equals): it lowers `u`
    /// most often and rules out the others. Every pick of the block is then tested against
    /// the block's first `cut`.
    SmallestBoundFirst,
}

/// The picks a row is compared with in [`filtered_update`]: what every row's update shares.
pub(crate) struct Picks<'a, T> {
    /// Rows of `xs` picked so far, in pick order.
    pub(crate) indices: &'a [usize],
    /// The prune bound of each pick (its squared pick distance; see [`rules_out`]), padded
    /// to whole blocks of [`FILTER_LANES`] (any values past the picks): a block's tests read
    /// its lanes at once (a slice not padded works, through a slower copy).
    pub(crate) prune: &'a [f64],
    /// The picks' filter (the same picks, in the same order).
    pub(crate) filter: &'a Filter<T>,
    /// The matrix the picks are rows of, row-major with `d` columns.
    pub(crate) xs: &'a [T],
    pub(crate) d: usize,
    /// The safety factor of the triangle-inequality test: pick `t` is skipped when
    /// `prune[t] >= 4 u margin`.
    pub(crate) margin: f64,
    pub(crate) order: Order,
    /// A row may stop meeting picks once its `u` is below this (after a whole block of
    /// [`FILTER_LANES`]): the k-center queue needs a row up to date only while it may be the
    /// farthest, and a `u` below the top bucket's lower edge says it is not (`u` bounds the
    /// distance to every pick from above either way). `-inf`: meet every pick.
    pub(crate) stop_below: f64,
}

/// A row to bring up to date in [`filtered_update`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowUpdate<'a, T> {
    /// The row's values.
    pub(crate) x: &'a [T],
    /// Its squared norm.
    pub(crate) norm: f64,
    /// The first pick it has not met.
    pub(crate) from: usize,
    /// Its squared distance to the nearest pick met so far (an upper bound).
    pub(crate) u: f64,
}

impl<T: Real> Picks<'_, T> {
    /// Lower bounds on the squared distances of a row (squared norm `nx`, norm `sx`) to the
    /// picks of filter block `blk`, from its dot products `dots` with them, for the whole
    /// block at once in vector arithmetic (lanes past the last pick hold zeros and are never
    /// read); `None` for a block past the filter's end.
    #[inline(always)]
    fn lower_bounds(
        &self,
        nx: f64,
        sx: f64,
        blk: usize,
        dots: &[T; FILTER_LANES],
    ) -> Option<[f64; FILTER_LANES]> {
        const L: usize = FILTER_LANES;
        let filter = self.filter;
        let first_lane = blk * L;
        let nc = filter.norms.get(first_lane..first_lane + L)?;
        let rc = filter.roots.get(first_lane..first_lane + L)?;
        let mut lower = [0.0_f64; L];
        let (g, tiny, abs) = (2.0 * filter.gamma * sx, filter.tiny, filter.abs);
        for (l, low) in lower.iter_mut().enumerate() {
            let estimate = nx + nc[l] - 2.0 * dots[l].to_f64_lossless();
            let bound = estimate - (g * rc[l] + tiny * (nx + nc[l]) + abs);
            // A dot product that overflowed `T` (any overflow leaves it infinite or NaN)
            // or an overflowed norm bounds nothing: such picks get their exact distance.
            // A finite bound had no overflow on the way, so the rounding analysis holds.
            *low = if bound.is_finite() {
                bound
            } else {
                f64::NEG_INFINITY
            };
        }
        Some(lower)
    }

    /// The smallest upper bound on the squared distances of a row (squared norm `nx`, norm
    /// `sx`) to the picks of filter block `blk` (lanes past the filter's end left out), from
    /// its dot products `dots` with them: the estimate plus its slack ([`Filter`]: the estimate
    /// is within the slack of the computed distance on either side). A pick whose bound is not
    /// finite (an overflow) bounds nothing: its lane gives `+inf`. `None` for a block past the
    /// filter's end.
    #[inline(always)]
    fn block_upper(&self, nx: f64, sx: f64, blk: usize, dots: &[T; FILTER_LANES]) -> Option<f64> {
        const L: usize = FILTER_LANES;
        let filter = self.filter;
        let first_lane = blk * L;
        let nc = filter.norms.get(first_lane..first_lane + L)?;
        let rc = filter.roots.get(first_lane..first_lane + L)?;
        let valid = filter.len.saturating_sub(first_lane).min(L);
        let (g, tiny, abs) = (2.0 * filter.gamma * sx, filter.tiny, filter.abs);
        let mut upper = [0.0_f64; L];
        for (l, up) in upper.iter_mut().enumerate() {
            let estimate = nx + nc[l] - 2.0 * dots[l].to_f64_lossless();
            let bound = estimate + (g * rc[l] + tiny * (nx + nc[l]) + abs);
            // A finite bound had no overflow on the way, so the rounding analysis holds; a
            // bound that is not finite bounds nothing. Written without branches (`&`, not
            // `&&`), so that it stays in vector registers.
            *up = if (l < valid) & (bound.abs() < f64::INFINITY) {
                bound
            } else {
                f64::INFINITY
            };
        }
        // The minimum by halves (no NaN is left: every lane is finite or `+inf`).
        let mut w = L / 2;
        while w > 0 {
            for l in 0..w {
                upper[l] = lesser(upper[l], upper[l + w]);
            }
            w /= 2;
        }
        Some(upper[0])
    }

    /// The first half of [`Order::SmallestBoundFirst`]'s work on picks `lo..hi` of block
    /// `blk` for a row at `u`: the number of picks the triangle-inequality test leaves, and
    /// the first of those with the smallest lower bound below `u` (if any), whose exact
    /// distance comes next. Then [`Self::smallest_first_rest`].
    #[inline(always)]
    fn smallest_first(
        &self,
        lo: usize,
        hi: usize,
        lower: &[f64; FILTER_LANES],
        u: f64,
    ) -> (u64, Option<usize>) {
        let first_lane = lo - lo % FILTER_LANES;
        let cut = 4.0 * u * self.margin;
        let mut evaluations = 0;
        let mut best = None;
        let mut best_low = u;
        for p in lo..hi {
            if rules_out(self.prune[p], cut) {
                continue;
            }
            evaluations += 1;
            let low = lower[p - first_lane];
            if low < best_low {
                best_low = low;
                best = Some(p);
            }
        }
        (evaluations, best)
    }

    /// The second half: the exact distances of the other picks of `lo..hi` not ruled out
    /// (with the cut of the row's `u0` before the block) whose lower bounds are below the
    /// current `u`, lowering it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn smallest_first_rest(
        &self,
        exact: impl Fn(&[T], &[T]) -> f64,
        xi: &[T],
        lo: usize,
        hi: usize,
        lower: &[f64; FILTER_LANES],
        best: usize,
        u0: f64,
        u: &mut f64,
    ) {
        let first_lane = lo - lo % FILTER_LANES;
        let cut = 4.0 * u0 * self.margin;
        for p in lo..hi {
            if p == best || lower[p - first_lane] >= *u || rules_out(self.prune[p], cut) {
                continue;
            }
            let dist = exact(xi, row(self.xs, self.d, self.indices[p]));
            if dist < *u {
                *u = dist;
            }
        }
    }

    /// For picks `lo..hi` of filter block `blk` (dot products `dots` with row `xi`, squared
    /// norm `nx`, norm `sx`, taken once a row): lower bounds, then exact distances for the
    /// picks they do not rule out, lowering `u`. Returns the number of picks compared.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn finish<const AVX512: bool>(
        &self,
        exact: impl Fn(&[T], &[T]) -> f64,
        xi: &[T],
        nx: f64,
        sx: f64,
        lo: usize,
        hi: usize,
        blk: usize,
        dots: &[T; FILTER_LANES],
        u: &mut f64,
    ) -> u64 {
        const L: usize = FILTER_LANES;
        let prune = self.prune;
        let cut = 4.0 * *u * self.margin;
        let first_lane = blk * L;
        let Some(lower) = self.lower_bounds(nx, sx, blk, dots) else {
            return 0;
        };
        if self.order == Order::SmallestBoundFirst {
            // The pick with the smallest lower bound below `u` first (see `Order`). The
            // result is the minimum of `u` and the exact distances of the picks not ruled
            // out, in whatever order they are computed (the others' distances are at least
            // `u`). (Against the labelled centres, which the triangle-inequality test never
            // rules out, a plain loop measured faster than the masks below.)
            let (evaluations, best) = self.smallest_first(lo, hi, &lower, *u);
            let Some(best) = best else {
                return evaluations;
            };
            let u0 = *u;
            let dist = exact(xi, row(self.xs, self.d, self.indices[best]));
            if dist < *u {
                *u = dist;
            }
            self.smallest_first_rest(&exact, xi, lo, hi, &lower, best, u0, u);
            return evaluations;
        }
        // The tests of the whole block as bit masks (lane `l` is pick `first_lane + l`): the
        // picks of `lo..hi` the triangle-inequality test leaves (`live`, each one compared),
        // and among them those whose lower bound is below `u` (the candidates). Most blocks
        // have none, and the branchy per-pick loop this replaces cost as much as the dot
        // products (`docs/kcenter.md`).
        let valid = lane_mask(lo - first_lane, hi - first_lane);
        let copy;
        let pr = match prune
            .get(first_lane..first_lane + L)
            .map(<&[f64; L]>::try_from)
        {
            Some(Ok(b)) => b,
            _ => {
                copy = block_of(prune, first_lane);
                &copy
            }
        };
        let (ruled, below) = block_masks::<AVX512>(&lower, pr, *u, cut);
        let live = valid & !ruled;
        let evaluations = u64::from(live.count_ones());
        let mut cands = live & below;
        while cands != 0 {
            let l = cands.trailing_zeros() as usize;
            cands &= cands - 1;
            // In pick order: the triangle-inequality test may use the current `u`, which
            // comes from earlier picks only.
            if lower[l] >= *u || rules_out(pr[l], 4.0 * *u * self.margin) {
                continue;
            }
            let dist = exact(xi, row(self.xs, self.d, self.indices[first_lane + l]));
            if dist < *u {
                *u = dist;
            }
        }
        evaluations
    }
}

/// Lanes `a..b` of a block of [`FILTER_LANES`] as bits (`a <= b <= FILTER_LANES`).
#[inline(always)]
fn lane_mask(a: usize, b: usize) -> u32 {
    let upto = |n: usize| 1_u32.checked_shl(n as u32).map_or(u32::MAX, |v| v - 1);
    upto(b) & !upto(a)
}

/// The prune bounds of the block starting at pick `first`; lanes past the end of `prune` (a
/// slice not padded to whole blocks) read `-inf`, which rules nothing out.
#[inline(always)]
fn block_of(prune: &[f64], first: usize) -> [f64; FILTER_LANES] {
    match prune
        .get(first..first + FILTER_LANES)
        .map(<[f64; FILTER_LANES]>::try_from)
    {
        Some(Ok(b)) => b,
        _ => {
            let mut b = [f64::NEG_INFINITY; FILTER_LANES];
            for (o, &p) in b.iter_mut().zip(prune.get(first..).unwrap_or(&[])) {
                *o = p;
            }
            b
        }
    }
}

/// `(ge_mask(prune, cut), lt_mask(lower, u))`; with `AVX512` (only in code compiled for
/// AVX-512F, run after detecting it) four vector compares, straight from the arrays (the
/// portable loops compile to scalar compares and reloads at odd offsets that stall).
#[inline(always)]
fn block_masks<const AVX512: bool>(
    lower: &[f64; FILTER_LANES],
    prune: &[f64; FILTER_LANES],
    u: f64,
    cut: f64,
) -> (u32, u32) {
    #[cfg(target_arch = "x86_64")]
    if AVX512 {
        // SAFETY: `AVX512` is true only in the AVX-512F variant of the kernels, which
        // `dispatch!` runs only on CPUs that have AVX-512F.
        return unsafe { block_masks_avx512(lower, prune, u, cut) };
    }
    (ge_mask(prune, cut), lt_mask(lower, u))
}

/// [`block_masks`] in AVX-512F compares: the same IEEE comparisons, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn block_masks_avx512(
    lower: &[f64; FILTER_LANES],
    prune: &[f64; FILTER_LANES],
    u: f64,
    cut: f64,
) -> (u32, u32) {
    use std::arch::x86_64::{
        _mm512_cmp_pd_mask, _mm512_loadu_pd, _mm512_set1_pd, _CMP_GE_OQ, _CMP_LT_OQ,
    };
    // SAFETY: each array holds 16 f64, read as two vectors of 8 (unaligned loads).
    let (l0, l1, p0, p1) = unsafe {
        (
            _mm512_loadu_pd(lower.as_ptr()),
            _mm512_loadu_pd(lower.as_ptr().add(8)),
            _mm512_loadu_pd(prune.as_ptr()),
            _mm512_loadu_pd(prune.as_ptr().add(8)),
        )
    };
    let (uu, cc) = (_mm512_set1_pd(u), _mm512_set1_pd(cut));
    let below = u32::from(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(l0, uu))
        | u32::from(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(l1, uu)) << 8;
    let ruled = if cut >= f64::INFINITY {
        0
    } else {
        u32::from(_mm512_cmp_pd_mask::<_CMP_GE_OQ>(p0, cc))
            | u32::from(_mm512_cmp_pd_mask::<_CMP_GE_OQ>(p1, cc)) << 8
    };
    (ruled, below)
}

/// Bit `l` set where `v[l] < x` (one vector compare a half on AVX-512).
#[inline(always)]
fn lt_mask(v: &[f64; FILTER_LANES], x: f64) -> u32 {
    let mut m = 0;
    for (l, &a) in v.iter().enumerate() {
        m |= u32::from(a < x) << l;
    }
    m
}

/// Bit `l` set where [`rules_out`]`(v[l], cut)`: `v[l] >= cut`, and none for an infinite cut.
#[inline(always)]
fn ge_mask(v: &[f64; FILTER_LANES], cut: f64) -> u32 {
    if cut >= f64::INFINITY {
        return 0;
    }
    let mut m = 0;
    for (l, &a) in v.iter().enumerate() {
        m |= u32::from(a >= cut) << l;
    }
    m
}

/// The distance loops, once per instruction set: a module whose functions all carry the
/// same `target_feature` (none for the baseline), so that the pairwise recursion and the
/// inlined leaves are compiled for it; calls between them need no `unsafe`. The second
/// argument is how many centres a row meets per pass in the nearest-centre tiles (a measured
/// choice: `docs/rust-kernels.md`); the third, whether the filter's four-row dot products use
/// fused multiply-adds (only where the features imply FMA).
macro_rules! distance_kernels {
    ($module:ident, $tile:literal, $fma:literal, $avx512:literal $(, $feature:literal)?) => {
        mod $module {
            use super::{block_ruled_out, dots_1, dots_2, dots_4, leaf, row, Order, Picks, RowUpdate, FILTER_LANES, PAIRWISE_BLOCK};
            use crate::real::Real;

            /// [`sq_dist_m`], with the common case of one pairwise block inlined.
            $(#[target_feature(enable = $feature)])?
            #[inline]
            fn dist_m<T: Real, const M: usize>(a: &[T], bs: [&[T]; M]) -> [f64; M] {
                if a.len() <= PAIRWISE_BLOCK {
                    leaf(a, bs)
                } else {
                    sq_dist_m(a, bs)
                }
            }

            /// Squared distances of `a` to each row of `bs` (each at least `a`'s length), in
            /// NumPy's pairwise order.
            $(#[target_feature(enable = $feature)])?
            pub(super) fn sq_dist_m<T: Real, const M: usize>(a: &[T], bs: [&[T]; M]) -> [f64; M] {
                let n = a.len();
                let bs = bs.map(|b| &b[..n]);
                if n <= PAIRWISE_BLOCK {
                    leaf(a, bs)
                } else {
                    let mut n2 = n / 2;
                    n2 -= n2 % 8;
                    let (mut bl, mut bh): ([&[T]; M], [&[T]; M]) = ([&[]; M], [&[]; M]);
                    for ((l, h), b) in bl.iter_mut().zip(&mut bh).zip(bs) {
                        (*l, *h) = b.split_at(n2);
                    }
                    // Halves of up to two blocks are leaves, inlined here.
                    let lo = dist_m(&a[..n2], bl);
                    let hi = dist_m(&a[n2..], bh);
                    let mut out = lo;
                    for (o, h) in out.iter_mut().zip(hi) {
                        *o += h;
                    }
                    out
                }
            }

            /// For rows `start..` of `x` (one per entry of `best`), lower `best`/`arg` with the
            /// centres `cs` of `c`, visited in order; strictly smaller wins, so the lowest index
            /// among equals stays.
            $(#[target_feature(enable = $feature)])?
            pub(super) fn nearest_tile<T: Real>(
                x: &[T],
                c: &[T],
                d: usize,
                start: usize,
                cs: std::ops::Range<usize>,
                best: &mut [f64],
                arg: &mut [usize],
            ) {
                const M: usize = $tile;
                for (r, (best, arg)) in best.iter_mut().zip(arg.iter_mut()).enumerate() {
                    let xr = row(x, d, start + r);
                    let mut j = cs.start;
                    while j + M <= cs.end {
                        let mut cs4: [&[T]; M] = [&[]; M];
                        for (t, ct) in cs4.iter_mut().enumerate() {
                            *ct = row(c, d, j + t);
                        }
                        let ds = dist_m::<T, M>(xr, cs4);
                        for (t, dist) in ds.into_iter().enumerate() {
                            if dist < *best {
                                *best = dist;
                                *arg = j + t;
                            }
                        }
                        j += M;
                    }
                    while j < cs.end {
                        let [dist] = dist_m::<T, 1>(xr, [row(c, d, j)]);
                        if dist < *best {
                            *best = dist;
                            *arg = j;
                        }
                        j += 1;
                    }
                }
            }

            /// The squared norm of each row of `xs` (rows of `d` values), into `out`.
            $(#[target_feature(enable = $feature)])?
            pub(super) fn sq_norms<T: Real>(xs: &[T], d: usize, out: &mut [f64]) {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = super::sq_norm(row(xs, d, i));
                }
            }

            /// The squared distance of two rows.
            $(#[target_feature(enable = $feature)])?
            pub(super) fn sq_dist1<T: Real>(a: &[T], b: &[T]) -> f64 {
                let [dist] = dist_m::<T, 1>(a, [b]);
                dist
            }

            /// Lower `row.u`, the squared distance of `row.x` to its nearest pick so far, with
            /// picks `row.from..` of `picks`. Pick `t` is skipped when `prune[t] >= 4 u margin`
            /// (the triangle-inequality test of the k-center greedy), or when the filter proves
            /// its distance is at least `u`; only the others are computed exactly. Stops after
            /// the first block that leaves `u` below `picks.stop_below`. Returns the new `u`,
            /// the number of picks compared (estimated or exact) and the number of picks met
            /// (the next update's `from`).
            $(#[target_feature(enable = $feature)])?
            pub(super) fn filtered_update<T: Real>(ctx: &Picks<'_, T>, row: RowUpdate<'_, T>) -> (f64, u64, usize) {
                const L: usize = FILTER_LANES;
                let RowUpdate { x: xi, norm: nx, from, mut u } = row;
                let (prune, filter, d, margin) = (ctx.prune, ctx.filter, ctx.d, ctx.margin);
                let to = ctx.indices.len().min(prune.len()).min(filter.len);
                let mut evaluations = 0;
                let sx = nx.sqrt();
                let mut b = from / L;
                while b * L < to {
                    let lo = (b * L).max(from);
                    let hi = ((b + 1) * L).min(to);
                    b += 1;
                    if !block_ruled_out(prune, lo, hi, u, margin) {
                        if let Some(block) = filter.blocks.get((b - 1) * d * L..b * d * L) {
                            let dots = dots_1::<T, false>(xi, block);
                            let exact = |a: &[T], c: &[T]| dist_m::<T, 1>(a, [c])[0];
                            evaluations +=
                                ctx.finish::<$avx512>(exact, xi, nx, sx, lo, hi, b - 1, &dots, &mut u);
                        }
                    } // else every pick of the block is ruled out (also when u == 0)
                    if u < ctx.stop_below && hi > from {
                        return (u, evaluations, hi);
                    }
                }
                (u, evaluations, to.max(from))
            }

            /// For each of four rows `xi` (squared norms `nx`), the smallest upper bound on its
            /// squared distances to the picks of `ctx` (all of them, from the first): the k-center
            /// greedy's first pass over the starting centres, which computes none of those
            /// distances (`kcenter.rs`). Each row's result is [`nearest_upper`]'s.
            $(#[target_feature(enable = $feature)])?
            pub(super) fn nearest_upper4<T: Real>(ctx: &Picks<'_, T>, xi: [&[T]; 4], nx: [f64; 4]) -> [f64; 4] {
                const L: usize = FILTER_LANES;
                let (filter, d) = (ctx.filter, ctx.d);
                let sx = nx.map(f64::sqrt);
                let mut out = [f64::INFINITY; 4];
                for b in 0..filter.len.div_ceil(L) {
                    let Some(block) = filter.blocks.get(b * d * L..(b + 1) * d * L) else {
                        break;
                    };
                    let dots = dots_4::<T, $fma>(xi, block);
                    for r in 0..4 {
                        if let Some(up) = ctx.block_upper(nx[r], sx[r], b, &dots[r]) {
                            out[r] = super::lesser(out[r], up);
                        }
                    }
                }
                out
            }

            /// The first pass over a block of rows `xs` (`d` values each): each row's squared
            /// norm into `norms` and its [`nearest_upper4`] bound into `bounds`, four rows at a
            /// time, with the rows `AHEAD` ahead fetched meanwhile so that reading the pool
            /// overlaps the arithmetic.
            $(#[target_feature(enable = $feature)])?
            pub(super) fn first_block<T: Real>(ctx: &Picks<'_, T>, xs: &[T], d: usize, norms: &mut [f64], bounds: &mut [f64]) {
                const AHEAD: usize = 8;
                let n = norms.len().min(bounds.len());
                let mut i = 0;
                while i + 4 <= n {
                    for t in i + AHEAD..(i + AHEAD + 4).min(n) {
                        super::prefetch_row(row(xs, d, t));
                    }
                    let xi = [row(xs, d, i), row(xs, d, i + 1), row(xs, d, i + 2), row(xs, d, i + 3)];
                    let nx = [super::sq_norm(xi[0]), super::sq_norm(xi[1]), super::sq_norm(xi[2]), super::sq_norm(xi[3])];
                    let up = nearest_upper4(ctx, xi, nx);
                    norms[i..i + 4].copy_from_slice(&nx);
                    bounds[i..i + 4].copy_from_slice(&up);
                    i += 4;
                }
                while i < n {
                    let x = row(xs, d, i);
                    norms[i] = super::sq_norm(x);
                    bounds[i] = nearest_upper(ctx, x, norms[i]);
                    i += 1;
                }
            }

            /// [`nearest_upper4`] for one row (the same dot products, so the same bits).
            $(#[target_feature(enable = $feature)])?
            pub(super) fn nearest_upper<T: Real>(ctx: &Picks<'_, T>, xi: &[T], nx: f64) -> f64 {
                const L: usize = FILTER_LANES;
                let (filter, d) = (ctx.filter, ctx.d);
                let sx = nx.sqrt();
                let mut out = f64::INFINITY;
                for b in 0..filter.len.div_ceil(L) {
                    let Some(block) = filter.blocks.get(b * d * L..(b + 1) * d * L) else {
                        break;
                    };
                    let [dots, ..] = dots_4::<T, $fma>([xi; 4], block);
                    if let Some(up) = ctx.block_upper(nx, sx, b, &dots) {
                        out = super::lesser(out, up);
                    }
                }
                out
            }

            /// [`filtered_update`] for four rows at once: each block of the filter is read once
            /// for the four, whose dot products run side by side. Each row's result is the one
            /// [`filtered_update`] gives it alone (a row that stops takes no part in the
            /// blocks after).
            $(#[target_feature(enable = $feature)])?
            pub(super) fn filtered_update4<T: Real>(
                ctx: &Picks<'_, T>,
                rows: [RowUpdate<'_, T>; 4],
            ) -> ([f64; 4], [u64; 4], [usize; 4]) {
                const L: usize = FILTER_LANES;
                let (xi, nx, from) = (rows.map(|r| r.x), rows.map(|r| r.norm), rows.map(|r| r.from));
                let mut u = rows.map(|r| r.u);
                let (prune, filter, d, margin) = (ctx.prune, ctx.filter, ctx.d, ctx.margin);
                let to = ctx.indices.len().min(prune.len()).min(filter.len);
                let mut evaluations = [0; 4];
                let sx = nx.map(f64::sqrt);
                let first = from.iter().copied().min().unwrap_or(0);
                // Picks met by each row; a row that has stopped keeps its count.
                let mut met = from.map(|f| to.max(f));
                let mut stopped = [false; 4];
                let mut b = first / L;
                while b * L < to {
                    if stopped.iter().all(|&s| s) {
                        break;
                    }
                    let hi = ((b + 1) * L).min(to);
                    // After this block, a row that has met some of it and is below the stop
                    // stops (the one-row update's test, at the same place).
                    let stop_after = |u: &[f64; 4], stopped: &mut [bool; 4], met: &mut [usize; 4]| {
                        for r in 0..4 {
                            if !stopped[r] && hi > from[r] && u[r] < ctx.stop_below {
                                stopped[r] = true;
                                met[r] = hi;
                            }
                        }
                    };
                    let mut need = [false; 4];
                    for r in 0..4 {
                        let lo = (b * L).max(from[r]);
                        need[r] = !stopped[r] && lo < hi && !block_ruled_out(prune, lo, hi, u[r], margin);
                    }
                    b += 1;
                    if !need.iter().any(|&n| n) {
                        stop_after(&u, &mut stopped, &mut met);
                        continue;
                    }
                    let Some(block) = filter.blocks.get((b - 1) * d * L..b * d * L) else {
                        stop_after(&u, &mut stopped, &mut met);
                        continue;
                    };
                    // In the updates, a block that only one or two of the four rows need (those
                    // that have stopped or not started there do not) is computed for those alone.
                    let dots = match (ctx.order, need.iter().filter(|&&n| n).count()) {
                        (Order::PickOrder, 1) => {
                            let mut dots = [[T::zero(); L]; 4];
                            if let Some(r) = need.iter().position(|&n| n) {
                                dots[r] = dots_1::<T, $fma>(xi[r], block);
                            }
                            dots
                        }
                        (Order::PickOrder, 2) => {
                            let mut dots = [[T::zero(); L]; 4];
                            let mut two = (0..4).filter(|&r| need[r]);
                            if let (Some(r0), Some(r1)) = (two.next(), two.next()) {
                                [dots[r0], dots[r1]] = dots_2::<T, $fma>([xi[r0], xi[r1]], block);
                            }
                            dots
                        }
                        _ => dots_4::<T, $fma>(xi, block),
                    };
                    let exact = |a: &[T], c: &[T]| dist_m::<T, 1>(a, [c])[0];
                    for r in 0..4 {
                        if need[r] {
                            let lo = ((b - 1) * L).max(from[r]);
                            let (x, n, sn) = (xi[r], nx[r], sx[r]);
                            evaluations[r] +=
                                ctx.finish::<$avx512>(exact, x, n, sn, lo, hi, b - 1, &dots[r], &mut u[r]);
                        }
                    }
                    stop_after(&u, &mut stopped, &mut met);
                }
                (u, evaluations, met)
            }
        }
    };
}

distance_kernels!(baseline, 4, false, false);
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
distance_kernels!(avx2, 4, false, false, "avx2");
// AVX-512F implies FMA (the filter's four-row dot products use it).
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
distance_kernels!(avx512, 4, true, true, "avx512f");

/// The first pass over a block of rows (see the kernel's docs).
pub(crate) fn first_block<T: Real>(
    isa: Isa,
    ctx: &Picks<'_, T>,
    xs: &[T],
    d: usize,
    norms: &mut [f64],
    bounds: &mut [f64],
) {
    dispatch!(isa, first_block(ctx, xs, d, norms, bounds))
}

/// Ask for the cache lines of a row ahead of use (a hint; it never faults).
#[inline(always)]
pub(crate) fn prefetch_row<T>(r: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let base = r.as_ptr().cast::<i8>();
        for off in (0..std::mem::size_of_val(r)).step_by(64) {
            // SAFETY: the address lies inside `r`; prefetching never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Squared distance of two rows on the variant `isa` (bit-identical on every variant).
pub(crate) fn sq_dist_isa<T: Real>(isa: Isa, a: &[T], b: &[T]) -> f64 {
    dispatch!(isa, sq_dist1(a, b))
}

/// The squared norm ([`sq_norm`]) of each row of `xs` (rows of `d` values; one a slot of
/// `out`), on the variant `isa`: the same bits, in wider vectors.
pub(crate) fn sq_norms<T: Real>(isa: Isa, xs: &[T], d: usize, out: &mut [f64]) {
    dispatch!(isa, sq_norms(xs, d, out))
}

/// The squared distance of `row` to its nearest pick, lowered with the picks it has not met
/// (until it falls below `picks.stop_below`), the number of picks compared, and the number
/// met; see `filtered_update` in [`distance_kernels!`]. On the variant `isa`.
pub(crate) fn filtered_update<T: Real>(
    isa: Isa,
    picks: &Picks<'_, T>,
    row: RowUpdate<'_, T>,
) -> (f64, u64, usize) {
    dispatch!(isa, filtered_update(picks, row))
}

/// [`filtered_update`] for four rows at once, each with the result it gets alone.
pub(crate) fn filtered_update4<T: Real>(
    isa: Isa,
    picks: &Picks<'_, T>,
    rows: [RowUpdate<'_, T>; 4],
) -> ([f64; 4], [u64; 4], [usize; 4]) {
    dispatch!(isa, filtered_update4(picks, rows))
}

/// Whether every value of `r` is finite: `0 v` is (signed) zero for a finite `v` and NaN for
/// NaN or an infinity, summed in 16 lanes (vector arithmetic, no early exit: a row is
/// short), so a lane is nonzero exactly when the row holds a non-finite value.
#[inline(always)]
fn all_finite<T: Real>(r: &[T]) -> bool {
    const W: usize = 16;
    let mut acc = [T::zero(); W];
    let chunks = r.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = *a + v * T::zero();
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        *a = *a + v * T::zero();
    }
    acc.iter().all(|&a| a == T::zero())
}

/// The lowest row of `x` holding NaN or an infinity, as an error naming `what`.
pub(crate) fn check_finite<T: Real>(x: ArrayView2<T>, what: Input) -> Result<()> {
    /// Rows per parallel job of a contiguous matrix.
    const ROWS: usize = 1024;
    let d = x.ncols();
    let bad = match x.as_slice() {
        // Standard layout, in blocks of rows, each row's check vectorised.
        Some(xs) if d > 0 => xs
            .par_chunks(ROWS * d)
            .enumerate()
            .find_map_first(|(b, blk)| {
                blk.chunks_exact(d)
                    .position(|r| !all_finite(r))
                    .map(|i| b * ROWS + i)
            }),
        _ => (0..x.nrows())
            .into_par_iter()
            .find_first(|&i| x.row(i).iter().any(|v| !v.is_finite())),
    };
    match bad {
        Some(row) => Err(KernelError::NonFinite { what, row }),
        None => Ok(()),
    }
}

/// Check that `c` has as many columns as `x`.
pub(crate) fn check_same_width<T>(
    x: ArrayView2<T>,
    x_name: Input,
    c: ArrayView2<T>,
    c_name: Input,
) -> Result<()> {
    if x.ncols() == c.ncols() {
        Ok(())
    } else {
        Err(KernelError::WidthMismatch {
            what: c_name,
            got: c.ncols(),
            other: x_name,
            expected: x.ncols(),
        })
    }
}

/// Rows of a standard-layout matrix as slices (empty rows when it has no columns).
pub(crate) fn row<T>(data: &[T], d: usize, i: usize) -> &[T] {
    &data[i * d..(i + 1) * d]
}

/// For each row of `x`, its squared distance to the nearest row of `c` and that row's index
/// (the lowest among equals). Both must be in standard layout; `c` must have rows.
/// Parallel over blocks of rows of `x`; each row sees the centres in order, so the result does
/// not depend on the thread count.
pub(crate) fn nearest_sq<T: Real>(
    x: &[T],
    c: &[T],
    d: usize,
    sq_out: &mut [f64],
    arg_out: &mut [usize],
    cancel: &Cancel,
) -> Result<()> {
    let Some(n_c) = c.len().checked_div(d) else {
        // Every distance is zero; the first centre is the nearest.
        sq_out.fill(0.0);
        arg_out.fill(0);
        return Ok(());
    };
    let c_block = (CENTRE_BLOCK_BYTES / (d * std::mem::size_of::<T>())).max(1);
    let isa = best_isa();
    sq_out
        .par_chunks_mut(ROW_BLOCK)
        .zip(arg_out.par_chunks_mut(ROW_BLOCK))
        .enumerate()
        .try_for_each(|(b, (sq_blk, arg_blk))| {
            let start = b * ROW_BLOCK;
            sq_blk.fill(f64::INFINITY);
            arg_blk.fill(0);
            for c_start in (0..n_c).step_by(c_block) {
                cancel.check()?;
                let c_end = (c_start + c_block).min(n_c);
                dispatch!(
                    isa,
                    nearest_tile(x, c, d, start, c_start..c_end, sq_blk, arg_blk)
                );
            }
            Ok(())
        })
}

/// Distances from each row of a matrix to its nearest centre.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearest {
    /// Euclidean distance of each row to its nearest centre (computed in `f64`).
    pub distances: Vec<f64>,
    /// Index of that centre; the lowest among equally near centres.
    pub indices: Vec<usize>,
    /// Number of distances evaluated (`n * m`).
    pub evaluations: u64,
}

/// For every row of `x` (n, d), the Euclidean distance to the nearest row of `centers` (m, d)
/// and that row's index, lowest index first among ties.
///
/// Exact: squared distances are summed in `f64` from direct differences, in NumPy's pairwise
/// order, then square-rooted. Parallel over rows of `x`, with `centers` visited in blocks that
/// stay in cache. Checks `cancel` between blocks.
///
/// # Errors
/// [`KernelError::Empty`] if `centers` has no rows, [`KernelError::WidthMismatch`] if the
/// column counts differ, [`KernelError::NonFinite`] naming the first row with NaN or an
/// infinity, [`KernelError::Cancelled`].
///
/// # Examples
/// ```
/// use activekit_core::{min_distances, Cancel};
/// use ndarray::array;
/// let x = array![[0.0_f64, 0.0], [3.0, 4.0], [10.0, 0.0]];
/// let c = array![[0.0_f64, 0.0], [10.0, 1.0]];
/// let near = min_distances(x.view(), c.view(), &Cancel::new()).unwrap();
/// assert_eq!(near.distances, vec![0.0, 5.0, 1.0]);
/// assert_eq!(near.indices, vec![0, 0, 1]);
/// ```
pub fn min_distances<T: Real>(
    x: ArrayView2<T>,
    centers: ArrayView2<T>,
    cancel: &Cancel,
) -> Result<Nearest> {
    if centers.nrows() == 0 {
        return Err(KernelError::Empty {
            what: Input::Centers,
        });
    }
    check_same_width(x, Input::Rows, centers, Input::Centers)?;
    check_finite(x, Input::Rows)?;
    check_finite(centers, Input::Centers)?;
    let (n, d) = x.dim();
    let x = x.as_standard_layout();
    let c = centers.as_standard_layout();
    let (xs, cs) = match (x.as_slice(), c.as_slice()) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("standard layout is contiguous"),
    };
    let mut dist = vec![0.0; n];
    let mut idx = vec![0; n];
    nearest_sq(xs, cs, d, &mut dist, &mut idx, cancel)?;
    dist.par_iter_mut().for_each(|v| *v = v.sqrt());
    Ok(Nearest {
        distances: dist,
        indices: idx,
        evaluations: (n as u64) * (centers.nrows() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;
    use ndarray::Array2;
    use proptest::prelude::*;

    fn naive(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    #[test]
    fn pairwise_order_matches_naive_on_integers() {
        // Integer-valued inputs sum exactly in any order.
        for d in [0, 1, 7, 8, 9, 127, 128, 129, 300, 1000] {
            let a: Vec<f64> = (0..d).map(|i| (i % 13) as f64).collect();
            let b: Vec<f64> = (0..d).map(|i| (i % 7) as f64).collect();
            assert_eq!(sq_dist(&a, &b), naive(&a, &b), "d = {d}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        let x = Array2::<f32>::zeros((3, 2));
        let c = Array2::<f32>::zeros((0, 2));
        assert_eq!(
            min_distances(x.view(), c.view(), &Cancel::new()).unwrap_err(),
            KernelError::Empty {
                what: Input::Centers
            }
        );
        let c = Array2::<f32>::zeros((1, 3));
        assert!(matches!(
            min_distances(x.view(), c.view(), &Cancel::new()).unwrap_err(),
            KernelError::WidthMismatch {
                got: 3,
                expected: 2,
                ..
            }
        ));
        let mut x = Array2::<f32>::zeros((4, 2));
        x[[2, 1]] = f32::NAN;
        x[[3, 0]] = f32::INFINITY;
        let c = Array2::<f32>::zeros((1, 2));
        assert_eq!(
            min_distances(x.view(), c.view(), &Cancel::new()).unwrap_err(),
            KernelError::NonFinite {
                what: Input::Rows,
                row: 2
            }
        );
    }

    /// The lowest non-finite row, in blocks past the first, in rows of every width (the
    /// vectorised check's lanes and tail) and in a layout that is not standard; huge finite
    /// values pass.
    #[test]
    fn check_finite_finds_the_lowest_bad_row() {
        for d in [1, 3, 15, 16, 17, 50, 64] {
            for (bad, at) in [
                (f32::INFINITY, 2500),
                (f32::NEG_INFINITY, 1024),
                (f32::NAN, 0),
            ] {
                let mut x = Array2::<f32>::from_elem((3000, d), f32::MAX);
                x[[at, d - 1]] = bad;
                x[[2999, 0]] = f32::NAN;
                let want = Err(KernelError::NonFinite {
                    what: Input::Rows,
                    row: at,
                });
                assert_eq!(check_finite(x.view(), Input::Rows), want, "d={d}");
                let t = x.t().to_owned();
                assert_eq!(check_finite(t.t(), Input::Rows), want, "d={d} transposed");
            }
            let ok = Array2::<f64>::from_elem((2000, d), -f64::MAX);
            assert_eq!(check_finite(ok.view(), Input::Rows), Ok(()));
        }
    }

    /// Rows with values of every scale, exact zeros and repeats, from a fixed xorshift.
    fn rows<T: Real>(n: usize, d: usize, seed: u64) -> Vec<T> {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15_u64 ^ seed);
        (0..n * d)
            .map(|_| {
                let state = rng.next_u64();
                let u = XorShift::unit(state) - 0.5;
                let v = match state % 9 {
                    0 => 0.0,
                    1 => u * 1e-20,
                    2 => u * 1e20,
                    3 => 1.0,
                    _ => u * 3.0,
                };
                T::from(v).unwrap()
            })
            .collect()
    }

    fn isas_agree<T: Real>() {
        let (n, m) = (13, 11);
        for d in [
            1, 5, 7, 8, 9, 15, 16, 17, 50, 64, 127, 128, 129, 136, 255, 256, 300, 512, 784, 1000,
        ] {
            let x = rows::<T>(n, d, d as u64);
            let c = rows::<T>(m, d, 1000 + d as u64);
            // The reference: one pair at a time on the baseline build.
            let want: Vec<Vec<u64>> = (0..n)
                .map(|i| {
                    (0..m)
                        .map(|j| sq_dist(row(&x, d, i), row(&c, d, j)).to_bits())
                        .collect()
                })
                .collect();
            let picks: Vec<usize> = (0..n).rev().collect();
            for isa in crate::isa::supported_isas() {
                // Rows against centres in groups, via the nearest-centre tiles: each row's
                // minimum and argmin over every prefix of the centres.
                for end in 1..=m {
                    let mut best = vec![f64::INFINITY; n];
                    let mut arg = vec![0; n];
                    dispatch!(isa, nearest_tile(&x, &c, d, 0, 0..end, &mut best, &mut arg));
                    for i in 0..n {
                        let j = arg[i];
                        assert!(j < end);
                        assert_eq!(best[i].to_bits(), want[i][j], "{isa:?} d={d} row {i}");
                        let min = want[i][..end].iter().map(|&b| f64::from_bits(b));
                        let min = min.fold(f64::INFINITY, f64::min);
                        assert_eq!(best[i], min, "{isa:?} d={d} row {i}");
                        assert_eq!(
                            Some(j),
                            want[i].iter().position(|&b| f64::from_bits(b) == min)
                        );
                    }
                }
                // One row against rows of the pool, via the filtered update (a prune bound of
                // -1 skips nothing): the filter may skip, never change, the minimum.
                let mut filter = Filter::new(d);
                for &p in &picks {
                    filter.push(row(&x, d, p), sq_norm(row(&x, d, p)));
                }
                let orders = [Order::PickOrder, Order::SmallestBoundFirst];
                let no_prune = vec![-1.0; n];
                for (i, order) in (0..n).zip(orders.into_iter().cycle()) {
                    let xi = row(&x, d, i);
                    let ctx = Picks {
                        indices: &picks,
                        prune: &no_prune,
                        filter: &filter,
                        xs: &x,
                        d,
                        margin: 1.0,
                        order,
                        stop_below: f64::NEG_INFINITY,
                    };
                    let (u, evals, met) = filtered_update(
                        isa,
                        &ctx,
                        RowUpdate {
                            x: xi,
                            norm: sq_norm(xi),
                            from: 0,
                            u: f64::INFINITY,
                        },
                    );
                    let min = picks
                        .iter()
                        .map(|&p| sq_dist(row(&x, d, i), row(&x, d, p)))
                        .fold(f64::INFINITY, f64::min);
                    assert_eq!(u.to_bits(), min.to_bits(), "{isa:?} d={d} row {i}");
                    assert_eq!((evals, met), (n as u64, n));
                }
                // Four rows at once, each from its own pick on and from its own bound: each
                // row's result is the one-row update's, bit for bit, evaluations included.
                let prune: Vec<f64> = (0..n).map(|p| (p % 4) as f64 - 1.0).collect();
                for (i, order) in (0..n - 3).zip(orders.into_iter().cycle()) {
                    let ctx = Picks {
                        indices: &picks,
                        prune: &prune,
                        filter: &filter,
                        xs: &x,
                        d,
                        margin: 1.0,
                        order,
                        stop_below: f64::NEG_INFINITY,
                    };
                    let rows = [i, i + 1, i + 2, i + 3].map(|r| RowUpdate {
                        x: row(&x, d, r),
                        norm: sq_norm(row(&x, d, r)),
                        from: (r * 5) % n,
                        u: if r % 3 == 0 { f64::INFINITY } else { 1.0 },
                    });
                    let (us, evals, met) = filtered_update4(isa, &ctx, rows);
                    for t in 0..4 {
                        let one = filtered_update(isa, &ctx, rows[t]);
                        assert_eq!(
                            (us[t].to_bits(), evals[t], met[t]),
                            (one.0.to_bits(), one.1, one.2)
                        );
                    }
                }
                // The first pass over the centres `c` (every prefix of them): each row's squared
                // norm, and an upper bound on its squared distance to the nearest centre, the
                // same from the four-row path (rows 0..12) as from the one-row path (row 12,
                // and every row alone). Not the same bits on every instruction set: the dot
                // products use fused multiply-adds on AVX-512, inside the same bound.
                for end in 1..=m {
                    let mut centres = Filter::new(d);
                    for j in 0..end {
                        centres.push(row(&c, d, j), sq_norm(row(&c, d, j)));
                    }
                    let ids: Vec<usize> = (0..end).collect();
                    let zeros = vec![0.0; end.next_multiple_of(FILTER_LANES)];
                    let ctx = Picks {
                        indices: &ids,
                        prune: &zeros,
                        filter: &centres,
                        xs: &c,
                        d,
                        margin: 1.0,
                        order: Order::SmallestBoundFirst,
                        stop_below: f64::NEG_INFINITY,
                    };
                    let (mut norms, mut bounds) = (vec![0.0; n], vec![0.0; n]);
                    first_block(isa, &ctx, &x, d, &mut norms, &mut bounds);
                    for i in 0..n {
                        let (xi, nx) = (row(&x, d, i), sq_norm(row(&x, d, i)));
                        assert_eq!(norms[i].to_bits(), nx.to_bits());
                        let alone = dispatch!(isa, nearest_upper(&ctx, xi, nx));
                        assert_eq!(
                            bounds[i].to_bits(),
                            alone.to_bits(),
                            "{isa:?} d={d} row {i}"
                        );
                        let min = want[i][..end].iter().map(|&b| f64::from_bits(b));
                        let min = min.fold(f64::INFINITY, f64::min);
                        assert!(
                            bounds[i] >= min,
                            "{isa:?} d={d} row {i}: {} < {min}",
                            bounds[i]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_identical_bits() {
        isas_agree::<f64>();
        isas_agree::<f32>();
    }

    /// With `stop_below`, an update meets whole blocks of picks and stops after the first
    /// that leaves `u` below it: its `u` is then the exact minimum over the picks met, the
    /// four-row update stops each row where the one-row update does, and without a stop
    /// every pick is met.
    #[test]
    fn updates_stop_after_the_block_that_takes_u_below_the_stop() {
        let (n, d) = (150, 20);
        let x = rows::<f64>(n, d, 77);
        let picks: Vec<usize> = (0..100).map(|p| (p * 37) % n).collect();
        let mut filter = Filter::new(d);
        for &p in &picks {
            filter.push(row(&x, d, p), sq_norm(row(&x, d, p)));
        }
        let never = vec![-1.0; picks.len().next_multiple_of(FILTER_LANES)];
        let mut stopped = 0;
        for isa in crate::isa::supported_isas() {
            for (i, order) in (0..n - 3).zip(
                [Order::PickOrder, Order::SmallestBoundFirst]
                    .into_iter()
                    .cycle(),
            ) {
                let dist = |r: usize, p: usize| sq_dist(row(&x, d, r), row(&x, d, picks[p]));
                let mut all: Vec<f64> = (0..picks.len()).map(|p| dist(i, p)).collect();
                all.sort_by(f64::total_cmp);
                let stop_below = all[(i * 7) % 40];
                let ctx = Picks {
                    indices: &picks,
                    prune: &never,
                    filter: &filter,
                    xs: &x,
                    d,
                    margin: 1.0,
                    order,
                    stop_below,
                };
                let rows = [i, i + 1, i + 2, i + 3].map(|r| RowUpdate {
                    x: row(&x, d, r),
                    norm: sq_norm(row(&x, d, r)),
                    from: (r * 3) % 50,
                    u: f64::INFINITY,
                });
                let (us, evals, met) = filtered_update4(isa, &ctx, rows);
                for t in 0..4 {
                    let r = i + t;
                    let one = filtered_update(isa, &ctx, rows[t]);
                    assert_eq!(
                        (us[t].to_bits(), evals[t], met[t]),
                        (one.0.to_bits(), one.1, one.2)
                    );
                    let from = rows[t].from;
                    let min_over =
                        |hi: usize| (from..hi).map(|p| dist(r, p)).fold(f64::INFINITY, f64::min);
                    assert_eq!(
                        us[t].to_bits(),
                        min_over(met[t]).to_bits(),
                        "{isa:?} row {r}"
                    );
                    if met[t] < picks.len() {
                        stopped += 1;
                        assert_eq!(met[t] % FILTER_LANES, 0);
                        assert!(us[t] < stop_below);
                        // Not a block later than it had to.
                        let before = met[t] - FILTER_LANES;
                        assert!(before <= from || min_over(before) >= stop_below, "row {r}");
                    } else {
                        // It never was below the stop at a block's end before the last block.
                        let last = (picks.len() - 1) / FILTER_LANES * FILTER_LANES;
                        assert!(last <= from || min_over(last) >= stop_below, "row {r}");
                    }
                }
            }
        }
        assert!(stopped > 100, "{stopped}");
    }

    proptest! {
        #[test]
        fn matches_brute_force(
            n in 1..80usize, m in 1..40usize, d in 1..20usize,
            vals in prop::collection::vec(-3i8..4, 80 * 40),
        ) {
            let x = Array2::from_shape_fn((n, d), |(i, j)| f64::from(vals[(i * d + j) % vals.len()]));
            let c = Array2::from_shape_fn((m, d), |(i, j)| f64::from(vals[(7 + i * 3 + j) % vals.len()]));
            let near = min_distances(x.view(), c.view(), &Cancel::new()).unwrap();
            for i in 0..n {
                let ds: Vec<f64> = (0..m).map(|j| naive(x.row(i).as_slice().unwrap(), c.row(j).as_slice().unwrap())).collect();
                let best = ds.iter().cloned().fold(f64::INFINITY, f64::min);
                let arg = ds.iter().position(|&v| v == best).unwrap();
                prop_assert_eq!(near.distances[i], best.sqrt());
                prop_assert_eq!(near.indices[i], arg);
            }
        }
    }
}
