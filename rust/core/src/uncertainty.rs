//! Uncertainty scores over an `(n, c)` matrix of class probabilities, alone or fused with
//! top-k selection. Higher scores mean more informative rows:
//!
//! * least confident: `1 - max_j p_j`
//! * margin: `1 - (p_(1) - p_(2))`, one minus the gap between the two largest probabilities
//! * entropy: `-sum_j p_j ln p_j` (natural log, `0 ln 0 = 0`)
//!
//! Every row is validated in the same pass that scores it: a row with a NaN or infinite
//! value, a negative entry, or a sum further than `tol` from one is an error naming the row.
//!
//! Entropy top-k first bounds each row's entropy from above with a logarithm read off the
//! floats' bits (two vector operations a value instead of about sixteen), and takes the
//! logarithms only of rows whose bound reaches the running `k`-th best score
//! ([`score_block_entropy_top`]); the selection is exactly the one scoring every row gives.

use crate::error::{Input, KernelError, Result};
use crate::isa::{best_isa, multiversion, Isa};
use crate::names::named;
use crate::real::Real;
use crate::topk::{
    check_k, contiguous_rows, scores_by_block, top_k_by_block, top_k_by_block_with_bar, Bar, TopK,
};
use ndarray::{Array1, ArrayView2};

/// Which uncertainty measure to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncertainty {
    /// `1 - max p`.
    LeastConfident,
    /// `1 - (p_(1) - p_(2))`.
    Margin,
    /// `-sum p ln p`.
    Entropy,
}

named!(
    Uncertainty,
    "uncertainty measure",
    [
        "least_confident" => LeastConfident,
        "margin" => Margin,
        "entropy" => Entropy,
    ]
);

/// Lanes of the accumulators: wide enough for AVX-512 on f32.
const LANES: usize = 16;

/// The measures as const parameters, so that each gets its own monomorphic hot loop.
const LEAST_CONFIDENT: u8 = 0;
const MARGIN: u8 = 1;
const ENTROPY: u8 = 2;
/// Not a measure: `sum p ln_lower(p)` ([`Real::ln_lower`]), whose negative is an upper bound
/// on the entropy, for entropy top-k to rule rows out cheaply ([`EntropyBound`]).
const ENTROPY_UPPER: u8 = 3;

/// Everything one pass over a row gathers. `a` is the largest probability (least confident,
/// margin) or `sum p ln p` (entropy); `b` the second largest (margin).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowStats<T> {
    pub(crate) sum: T,
    pub(crate) min: T,
    pub(crate) a: T,
    pub(crate) b: T,
}

impl<T: Real> RowStats<T> {
    /// Placeholder statistics for a buffer that [`block_stats`] fills.
    pub(crate) fn zero() -> Self {
        Self {
            sum: T::zero(),
            min: T::zero(),
            a: T::zero(),
            b: T::zero(),
        }
    }
}

#[inline(always)]
fn push_top2<T: Real>(top1: &mut T, top2: &mut T, v: T) {
    let lo = if v < *top1 { v } else { *top1 };
    *top1 = if v < *top1 { *top1 } else { v };
    *top2 = if lo < *top2 { *top2 } else { lo };
}

/// `W` independent accumulators, one per lane. Every lane sees its values in order and does
/// exactly the same operations whatever `W`, so one lane of a wide accumulator and a `W = 1`
/// accumulator fed the same values agree bit for bit. The compiler turns the lane loops into
/// SIMD instructions; no float reduction is reassociated.
struct Acc<T, const W: usize> {
    sum: [T; W],
    min: [T; W],
    a: [T; W],
    b: [T; W],
}

// Lane loops index several arrays by the same lane; an iterator over one of them reads worse.
#[allow(clippy::needless_range_loop)]
impl<T: Real, const W: usize> Acc<T, W> {
    #[inline(always)]
    fn new<const K: u8>() -> Self {
        let first = if K == ENTROPY || K == ENTROPY_UPPER {
            T::zero()
        } else {
            T::neg_infinity()
        };
        Self {
            sum: [T::zero(); W],
            min: [T::infinity(); W],
            a: [first; W],
            b: [T::neg_infinity(); W],
        }
    }

    #[inline(always)]
    fn push<const K: u8>(&mut self, v: &[T; W]) {
        for l in 0..W {
            let x = v[l];
            self.sum[l] = self.sum[l] + x;
            self.min[l] = if x < self.min[l] { x } else { self.min[l] };
            match K {
                LEAST_CONFIDENT => self.a[l] = if x > self.a[l] { x } else { self.a[l] },
                MARGIN => push_top2(&mut self.a[l], &mut self.b[l], x),
                ENTROPY_UPPER => self.a[l] = x.mul_add(x.ln_lower(), self.a[l]),
                _ => self.a[l] = x.xlogx_fused(self.a[l]),
            }
        }
    }

    /// Fold lanes `H..2H` into lanes `0..H` (`2H <= W`). Each statistic in its own loop of a
    /// constant length, which the compiler turns into vector operations where it can (see
    /// `docs/rust-kernels.md`). Lanes are independent, so the values are those of any loop
    /// order.
    #[inline(always)]
    fn fold<const K: u8, const H: usize>(&mut self) {
        for l in 0..H {
            self.sum[l] = self.sum[l] + self.sum[l + H];
        }
        for l in 0..H {
            let (lo, hi) = (self.min[l], self.min[l + H]);
            self.min[l] = if hi < lo { hi } else { lo };
        }
        match K {
            LEAST_CONFIDENT => {
                for l in 0..H {
                    let (lo, hi) = (self.a[l], self.a[l + H]);
                    self.a[l] = if hi > lo { hi } else { lo };
                }
            }
            MARGIN => {
                for l in 0..H {
                    let (hi, lo) = (self.a[l + H], self.b[l + H]);
                    push_top2(&mut self.a[l], &mut self.b[l], hi);
                    push_top2(&mut self.a[l], &mut self.b[l], lo);
                }
            }
            _ => {
                for l in 0..H {
                    self.a[l] = self.a[l] + self.a[l + H];
                }
            }
        }
    }

    #[inline(always)]
    fn lane(&self, l: usize) -> RowStats<T> {
        RowStats {
            sum: self.sum[l],
            min: self.min[l],
            a: self.a[l],
            b: self.b[l],
        }
    }
}

/// The lanes of a row of at least [`LANES`] values: element `j` goes to lane `j % LANES`;
/// the last partial chunk is read as the row's last `LANES` values with the lanes already
/// seen replaced by zeros (which change no statistic that a valid row is scored on, and no
/// validity check). [`wide_row`] and [`fold_group`] then fold the lanes pairwise,
/// 16 -> 8 -> 4 -> 2 -> 1. The order depends only on the row's length.
#[cfg(test)]
#[inline(always)]
fn wide_row_lanes<T: Real, const K: u8>(row: &[T]) -> Acc<T, LANES> {
    wide_row_lanes_with::<T, K>(row, false)
}

/// [`wide_row_lanes`]; `masked_tail` (only where the CPU has AVX-512F) builds the last partial
/// chunk with one masked load ([`tail_avx512`]) instead of a select per lane, which the
/// compiler turned into sixteen single-lane inserts. Same values either way.
#[inline(always)]
fn wide_row_lanes_with<T: Real, const K: u8>(row: &[T], masked_tail: bool) -> Acc<T, LANES> {
    let mut acc = Acc::<T, LANES>::new::<K>();
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        if let Ok(v) = <&[T; LANES]>::try_from(chunk) {
            acc.push::<K>(v);
        }
    }
    let r = chunks.remainder().len();
    if r > 0 {
        let tail = row.get(row.len().saturating_sub(LANES)..).unwrap_or(&[]);
        if let Ok(last) = <&[T; LANES]>::try_from(tail) {
            #[cfg(target_arch = "x86_64")]
            if masked_tail && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
                // SAFETY: `T` is `f32` (checked just above), so the casts change no type;
                // `masked_tail` is true only where the CPU has AVX-512F (`block_stats_with`).
                unsafe {
                    let last = &*(last as *const [T; LANES]).cast::<[f32; LANES]>();
                    let v = tail_avx512(last, r);
                    acc.push::<K>(&*(&v as *const [f32; LANES]).cast::<[T; LANES]>());
                }
                return acc;
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = masked_tail;
            let mut v = [T::zero(); LANES];
            for l in 0..LANES {
                v[l] = if l >= LANES - r { last[l] } else { T::zero() };
            }
            acc.push::<K>(&v);
        }
    }
    acc
}

/// The last `LANES` values of a row with lanes `0..LANES - r` zeroed (`1 <= r < LANES`): one
/// masked load.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tail_avx512(last: &[f32; LANES], r: usize) -> [f32; LANES] {
    use std::arch::x86_64::{_mm512_maskz_loadu_ps, _mm512_storeu_ps};
    let keep = (0xffff_u32 << (LANES - r)) as u16;
    let mut v = [0.0_f32; LANES];
    _mm512_storeu_ps(v.as_mut_ptr(), _mm512_maskz_loadu_ps(keep, last.as_ptr()));
    v
}

/// Statistics of a row of at least [`LANES`] values: [`wide_row_lanes`], folded.
#[cfg(test)]
#[inline(always)]
fn wide_row<T: Real, const K: u8>(row: &[T]) -> RowStats<T> {
    let mut acc = wide_row_lanes::<T, K>(row);
    const _: () = assert!(LANES == 16);
    acc.fold::<K, 8>();
    acc.fold::<K, 4>();
    acc.fold::<K, 2>();
    acc.fold::<K, 1>();
    acc.lane(0)
}

/// Rows folded together by [`fold_group`].
const GROUP: usize = 16;

/// The statistics of up to [`GROUP`] rows from their lanes, each row folded as [`wide_row`]
/// folds it (lane `l` with lane `l + h` for `h` = 8, 4, 2, 1); on AVX-512 in `f32`, sixteen
/// rows at once ([`fold_group_avx512`], the same operations on the same operands). Unused rows
/// of `rows` are ignored; `rows` is left folded (lane 0 of each).
#[inline(always)]
fn fold_group<T: Real, const K: u8>(
    rows: &mut [Acc<T, LANES>; GROUP],
    fold16: bool,
    out: &mut [RowStats<T>; GROUP],
) {
    #[cfg(target_arch = "x86_64")]
    if fold16 && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: `T` is `f32` (checked just above), so the casts change no type; `fold16` is
        // true only where the CPU has AVX-512F (`block_stats_with` checks).
        unsafe {
            let rows = &*(rows as *const [Acc<T, LANES>; GROUP]).cast::<[Acc<f32, LANES>; GROUP]>();
            let out = &mut *(out as *mut [RowStats<T>; GROUP]).cast::<[RowStats<f32>; GROUP]>();
            fold_group_avx512::<K>(rows, out);
        }
        return;
    }
    let _ = fold16;
    for (acc, o) in rows.iter_mut().zip(out.iter_mut()) {
        const _: () = assert!(LANES == 16);
        acc.fold::<K, 8>();
        acc.fold::<K, 4>();
        acc.fold::<K, 2>();
        acc.fold::<K, 1>();
        *o = acc.lane(0);
    }
}

/// [`fold_group`] for sixteen rows of `f32` lanes at once. Folding one row at a time leaves
/// most of each vector idle and spends shuffles and scalar operations on every level (about a
/// fifth of entropy's time at 100 classes, and of least confident's); here each level pairs
/// two vectors so that every lane of the result is used: after the first level rows
/// `(2p, 2p + 1)` share a vector (lanes `0..8` of each row against `8..16`), after the second
/// four rows, after the third eight, after the last all sixteen, row `4 j + q` in lane
/// `4 q + j`. Each lane of a result is the operation of [`Acc::fold`] on the same two lanes
/// of the same row, in the same operand order, so the bits are those of the row folded alone:
/// `_mm512_min_ps(hi, lo)` is `if hi < lo { hi } else { lo }` (MINPS returns its second
/// operand when the comparison is false, NaN included), `_mm512_max_ps(hi, lo)` is
/// `if hi > lo { hi } else { lo }`, and margin's `push_top2(top1, top2, v)` is
/// `(max(top1, v), max(top2, min(v, top1)))` in that operand order. About 45 vector operations
/// a statistic for sixteen rows instead of about 8 a row; `group_fold_is_wide_rows_fold`
/// checks the bits against [`wide_row`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fold_group_avx512<const K: u8>(
    rows: &[Acc<f32, LANES>; GROUP],
    out: &mut [RowStats<f32>; GROUP],
) {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_loadu_ps, _mm512_max_ps, _mm512_min_ps, _mm512_shuffle_f32x4,
        _mm512_shuffle_ps, _mm512_storeu_ps,
    };

    #[derive(Clone, Copy)]
    struct V {
        sum: __m512,
        min: __m512,
        a: __m512,
        b: __m512,
    }

    // Closures, not nested functions: they inherit this function's target feature, so the
    // intrinsics inline.
    // `(first, second)` operands of the fold at level `h` for the rows of `x` and `y`.
    let split = |x: __m512, y: __m512, h: usize| -> (__m512, __m512) {
        match h {
            8 => (
                _mm512_shuffle_f32x4::<0x44>(x, y),
                _mm512_shuffle_f32x4::<0xEE>(x, y),
            ),
            4 => (
                _mm512_shuffle_f32x4::<0x88>(x, y),
                _mm512_shuffle_f32x4::<0xDD>(x, y),
            ),
            2 => (
                _mm512_shuffle_ps::<0x44>(x, y),
                _mm512_shuffle_ps::<0xEE>(x, y),
            ),
            _ => (
                _mm512_shuffle_ps::<0x88>(x, y),
                _mm512_shuffle_ps::<0xDD>(x, y),
            ),
        }
    };
    let level = |x: V, y: V, h: usize| -> V {
        let (s0, s1) = split(x.sum, y.sum, h);
        let (m0, m1) = split(x.min, y.min, h);
        let (a0, a1) = split(x.a, y.a, h);
        let sum = _mm512_add_ps(s0, s1);
        let min = _mm512_min_ps(m1, m0);
        match K {
            LEAST_CONFIDENT => V {
                sum,
                min,
                a: _mm512_max_ps(a1, a0),
                b: x.b,
            },
            MARGIN => {
                let (b0, b1) = split(x.b, y.b, h);
                // push_top2(a0, b0, a1), then push_top2(.., .., b1).
                let t2 = _mm512_max_ps(b0, _mm512_min_ps(a1, a0));
                let t1 = _mm512_max_ps(a0, a1);
                let t2 = _mm512_max_ps(t2, _mm512_min_ps(b1, t1));
                let t1 = _mm512_max_ps(t1, b1);
                V {
                    sum,
                    min,
                    a: t1,
                    b: t2,
                }
            }
            _ => V {
                sum,
                min,
                a: _mm512_add_ps(a0, a1),
                b: x.b,
            },
        }
    };

    // SAFETY (loads and stores): each pointer is to a `[f32; 16]`, 16 readable (writable)
    // values, and the `loadu`/`storeu` forms need no alignment.
    let load = |r: &Acc<f32, LANES>| unsafe {
        V {
            sum: _mm512_loadu_ps(r.sum.as_ptr()),
            min: _mm512_loadu_ps(r.min.as_ptr()),
            a: _mm512_loadu_ps(r.a.as_ptr()),
            b: _mm512_loadu_ps(r.b.as_ptr()),
        }
    };
    let v: [V; GROUP] = std::array::from_fn(|r| load(&rows[r]));
    let c: [V; 8] = std::array::from_fn(|p| level(v[2 * p], v[2 * p + 1], 8));
    let d: [V; 4] = std::array::from_fn(|p| level(c[2 * p], c[2 * p + 1], 4));
    let e: [V; 2] = std::array::from_fn(|p| level(d[2 * p], d[2 * p + 1], 2));
    let f = level(e[0], e[1], 1);
    let mut lanes = Acc::<f32, LANES>::new::<K>();
    unsafe {
        _mm512_storeu_ps(lanes.sum.as_mut_ptr(), f.sum);
        _mm512_storeu_ps(lanes.min.as_mut_ptr(), f.min);
        _mm512_storeu_ps(lanes.a.as_mut_ptr(), f.a);
        if K == MARGIN {
            _mm512_storeu_ps(lanes.b.as_mut_ptr(), f.b);
        }
    }
    for (r, o) in out.iter_mut().enumerate() {
        *o = lanes.lane(4 * (r % 4) + r / 4);
    }
}

/// Rows' lanes waiting to be folded [`GROUP`] at a time into `out`, in row order.
struct Group<'a, T> {
    lanes: [Acc<T, LANES>; GROUP],
    len: usize,
    fold16: bool,
    out: std::slice::IterMut<'a, RowStats<T>>,
}

impl<'a, T: Real> Group<'a, T> {
    #[inline(always)]
    fn new<const K: u8>(out: &'a mut [RowStats<T>], fold16: bool) -> Self {
        Self {
            lanes: std::array::from_fn(|_| Acc::new::<K>()),
            len: 0,
            fold16,
            out: out.iter_mut(),
        }
    }

    #[inline(always)]
    fn push<const K: u8>(&mut self, acc: Acc<T, LANES>) {
        if let Some(slot) = self.lanes.get_mut(self.len) {
            *slot = acc;
        }
        self.len += 1;
        if self.len == GROUP {
            self.flush::<K>();
        }
    }

    /// Fold the rows waiting (if any) into the next slots of `out`.
    #[inline(always)]
    fn flush<const K: u8>(&mut self) {
        if self.len > 0 {
            let mut stats = [RowStats::zero(); GROUP];
            fold_group::<T, K>(&mut self.lanes, self.fold16, &mut stats);
            // `stats` first: `zip` stops at its end without taking another slot of `out`.
            for (st, o) in stats[..self.len].iter().zip(&mut self.out) {
                *o = *st;
            }
            self.len = 0;
        }
    }
}

/// Statistics of a row shorter than [`LANES`]: its values in order.
#[inline(always)]
fn narrow_row<T: Real, const K: u8>(row: &[T]) -> RowStats<T> {
    let mut acc = Acc::<T, 1>::new::<K>();
    for &x in row {
        acc.push::<K>(&[x]);
    }
    acc.lane(0)
}

/// Rows per pass of the narrow-row entropy path: its scratch lives on the stack.
const NARROW_ROWS: usize = 64;

/// Statistics of every row of `x`, `c` values per row (`c >= 1`), into `out`.
///
/// Rows of at least [`LANES`] values are reduced across lanes one at a time
/// ([`wide_row_lanes`]) and their lanes folded sixteen rows at a time ([`Group`],
/// [`fold_group`]), with the scores of [`wide_row`]. Shorter rows are reduced in order, one row at a time ([`narrow_row`]); for entropy the
/// `p ln p` terms of [`NARROW_ROWS`] rows are first computed in one elementwise pass, which
/// vectorises, and then summed per row in the same order as [`narrow_row`], with the same bits.
#[inline(always)]
fn block_stats_impl<T: Real, const K: u8>(
    x: &[T],
    c: usize,
    fold16: bool,
    out: &mut [RowStats<T>],
) {
    if c >= LANES {
        let mut group = Group::new::<K>(out, fold16);
        for row in x.chunks_exact(c) {
            group.push::<K>(wide_row_lanes_with::<T, K>(row, fold16));
        }
        group.flush::<K>();
    } else if K == ENTROPY {
        let mut scratch = [T::zero(); NARROW_ROWS * LANES];
        for (xs, os) in x.chunks(NARROW_ROWS * c).zip(out.chunks_mut(NARROW_ROWS)) {
            for (t, &v) in scratch.iter_mut().zip(xs) {
                *t = v.xlogx();
            }
            for ((row, terms), o) in xs.chunks_exact(c).zip(scratch.chunks_exact(c)).zip(os) {
                let mut st = RowStats {
                    sum: T::zero(),
                    min: T::infinity(),
                    a: T::zero(),
                    b: T::neg_infinity(),
                };
                for (&v, &t) in row.iter().zip(terms) {
                    st.sum = st.sum + v;
                    st.min = if v < st.min { v } else { st.min };
                    st.a = st.a + t;
                }
                *o = st;
            }
        }
    } else {
        for (row, o) in x.chunks_exact(c).zip(out.iter_mut()) {
            *o = narrow_row::<T, K>(row);
        }
    }
}

/// What a pass over rows gathers: a measure's statistics, or the entropy's upper bound
/// ([`ENTROPY_UPPER`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Measure(Uncertainty),
    EntropyUpper,
}

#[inline(always)]
fn block_stats_generic<T: Real>(
    x: &[T],
    c: usize,
    pass: Pass,
    fold16: bool,
    out: &mut [RowStats<T>],
) {
    match pass {
        Pass::Measure(Uncertainty::LeastConfident) => {
            block_stats_impl::<T, LEAST_CONFIDENT>(x, c, fold16, out)
        }
        Pass::Measure(Uncertainty::Margin) => block_stats_impl::<T, MARGIN>(x, c, fold16, out),
        Pass::Measure(Uncertainty::Entropy) => block_stats_impl::<T, ENTROPY>(x, c, fold16, out),
        Pass::EntropyUpper => block_stats_impl::<T, ENTROPY_UPPER>(x, c, fold16, out),
    }
}

// The default x86-64 target has only SSE2 (4 f32 lanes); AVX-512 has 16 lanes and 32
// registers, enough that the row loops do not spill. Every variant gives the same bits
// (`crate::isa`; checked by a test).

multiversion! {
    /// [`block_stats_generic`] compiled for `isa`; `fold16` says whether rows may be folded sixteen at a time by
    /// [`fold_group_avx512`].
    fn block_stats_variant<T: Real>(
        x: &[T],
        c: usize,
        pass: Pass,
        fold16: bool,
        out: &mut [RowStats<T>],
    ) = block_stats_generic;
}

/// Statistics of every row of the row-major block `x` (`c` values per row) into `out`, with
/// the variant `isa` of [`block_stats_generic`].
fn block_pass_with<T: Real>(isa: Isa, x: &[T], c: usize, pass: Pass, out: &mut [RowStats<T>]) {
    #[cfg(target_arch = "x86_64")]
    let fold16 = isa == Isa::Avx512 && std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let fold16 = false;
    block_stats_variant(isa, x, c, pass, fold16, out);
}

/// [`block_stats`] with the variant `isa`.
fn block_stats_with<T: Real>(
    isa: Isa,
    x: &[T],
    c: usize,
    kind: Uncertainty,
    out: &mut [RowStats<T>],
) {
    block_pass_with(isa, x, c, Pass::Measure(kind), out);
}

/// Statistics of every row of the row-major block `x` (`c` values per row) into `out`, on the
/// widest vector instructions this CPU has.
pub(crate) fn block_stats<T: Real>(x: &[T], c: usize, kind: Uncertainty, out: &mut [RowStats<T>]) {
    block_stats_with(best_isa(), x, c, kind, out);
}

/// An upper bound on the entropy score [`finish`] gives a valid row of `c >= LANES` values
/// (`tol` the row sums' tolerance), from the row's [`ENTROPY_UPPER`] statistics: its `sum` and
/// `min` are those of the entropy pass, bit for bit, and `a = sum p ln_lower(p)`. In exact
/// arithmetic `ln_lower(p) <= ln p`, so `-a >= -sum p ln p`; the rest covers roundings, each
/// bounded generously, with `eps` the type's epsilon (twice its unit roundoff) and
/// `g = (ceil(c / 16) + 8) eps` for a chain of one lane's multiply-adds and the four levels of
/// the fold:
///
/// * the true sum is at most `s = sum (1 + g)`; every `p <= s`, so `ln_lower(p) <= ln s +
///   slack <= tol + slack` and the positive terms of `-a` total at most `s (tol + slack)`:
///   `W = (|a| + 2 s (tol + slack)) (1 + 2 g)` bounds `sum |p ln_lower(p)|`, and the computed
///   `a` is within `g W` of its exact sum;
/// * `ln_lower` exceeds `ln p` by at most [`Real::LN_LOWER_SLACK`] on normal values (`slack s`
///   over the row) and misses a subnormal's `p ln p` by at most `3000 p`;
/// * the score [`finish`] computes is within `h (W + 0.06 s)`, `h = g + 16 eps`, of the true
///   entropy (the logarithm's 3.34 ulp, one rounding a multiply-add, the fold; `|ln p| <=
///   |ln_lower(p)| + 0.06` for `p <= 1`), plus a subnormal's `3000 p` again.
///
/// The bound, `-a + g W + slack s + h (W + 0.06 s) + 6000 c tiny`, is linear in `|a|`, `a`
/// and `sum`: [`EntropyBound::of`] evaluates it from three constants (in `f64`, whose
/// roundings are far inside the margins above). It is not clamped at zero as the score is:
/// callers compare it with a positive bar. A NaN bound (an invalid row) compares false.
///
/// [`EntropyBound::lower`] bounds the same score from below: `ln p <= ln_lower(p) +
/// MITCHELL + slack` for normal `p` (a subnormal's term is inside the constant), so the
/// score is at least `-a - g W - (MITCHELL + slack) s - h (W + 0.06 s) - 6000 c tiny`.
struct EntropyBound {
    abs_a: f64,
    sum: f64,
    sum_lower: f64,
    constant: f64,
}

/// The most [`Real::ln_lower`] falls below `ln x`: `max (log2(1 + f) - f) ln 2 = 0.059660`,
/// rounded up.
const MITCHELL: f64 = 0.0597;

impl EntropyBound {
    fn new<T: Real>(c: usize, tol: f64) -> Self {
        let eps = T::epsilon().to_f64_lossless();
        let g = (c.div_ceil(LANES) + 8) as f64 * eps;
        let h = g + 16.0 * eps;
        let slack = T::LN_LOWER_SLACK;
        // W = (|a| + 2 s (tol + slack)) (1 + 2 g), s = sum (1 + g).
        let w_abs_a = 1.0 + 2.0 * g;
        let w_sum = 2.0 * (tol + slack) * (1.0 + g) * (1.0 + 2.0 * g);
        Self {
            abs_a: (g + h) * w_abs_a,
            sum: (g + h) * w_sum + (slack + 0.06 * h) * (1.0 + g),
            sum_lower: (g + h) * w_sum + (MITCHELL + slack + 0.06 * h) * (1.0 + g),
            constant: 6000.0 * T::min_positive_value().to_f64_lossless() * c as f64,
        }
    }

    /// At least the row's score.
    #[inline(always)]
    fn of<T: Real>(&self, st: &RowStats<T>) -> f64 {
        let a = st.a.to_f64_lossless();
        -a + self.abs_a * a.abs() + self.sum * st.sum.to_f64_lossless() + self.constant
    }

    /// At most the row's score (before its clamp at zero).
    #[inline(always)]
    fn lower<T: Real>(&self, st: &RowStats<T>) -> f64 {
        let a = st.a.to_f64_lossless();
        -a - self.abs_a * a.abs() - self.sum_lower * st.sum.to_f64_lossless() - self.constant
    }
}

/// The score of a row from its statistics, or what is wrong with the row.
#[inline]
pub(crate) fn finish<T: Real>(
    st: &RowStats<T>,
    kind: Uncertainty,
    tol: T,
) -> std::result::Result<T, String> {
    if !st.sum.is_finite() {
        return Err("contains NaN or infinite values".to_string());
    }
    if st.min < T::zero() {
        return Err(format!("has a negative probability ({})", st.min));
    }
    if (st.sum - T::one()).abs() > tol {
        return Err(format!("sums to {}, not 1 (tolerance {})", st.sum, tol));
    }
    Ok(score_of(st, kind))
}

/// The score of a row from its statistics, unchecked (what [`finish`] returns for a valid
/// row; [`scores_if_valid`] calls it with a constant `kind` in each of its loops).
#[inline(always)]
fn score_of<T: Real>(st: &RowStats<T>, kind: Uncertainty) -> T {
    match kind {
        Uncertainty::LeastConfident => T::one() - st.a,
        Uncertainty::Margin => T::one() - (st.a - st.b),
        // -sum p ln p is >= 0 mathematically; clamp the rounding of a one-hot row.
        Uncertainty::Entropy => (-st.a).max(T::zero()),
    }
}

/// Whether a row passes [`finish`]'s three checks, without branches: `|sum - 1| <= tol` is
/// false for a NaN or infinite sum; `!(min < 0)`, not `min >= 0`: a NaN minimum passes this
/// test here as in `finish`.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
#[inline(always)]
fn row_passes<T: Real>(st: &RowStats<T>, tol: T) -> bool {
    !(st.min < T::zero()) & ((st.sum - T::one()).abs() <= tol)
}

/// The scores of rows that pass [`finish`]'s checks, written to `out` (the values of
/// [`finish`], the same operations), and whether every row passed: one branch-free loop per
/// measure, which vectorises, instead of [`finish`]'s tests and branches row by row. Where a
/// row fails, the caller asks [`finish`] for the first one's reason.
fn scores_if_valid<T: Real>(
    stats: &[RowStats<T>],
    kind: Uncertainty,
    tol: T,
    out: &mut [T],
) -> bool {
    // One loop per measure, each with its `kind` a constant, so that none branches on it.
    #[inline(always)]
    fn scores<T: Real>(stats: &[RowStats<T>], kind: Uncertainty, tol: T, out: &mut [T]) -> bool {
        let mut valid = true;
        for (o, st) in out.iter_mut().zip(stats) {
            *o = score_of(st, kind);
            valid &= row_passes(st, tol);
        }
        valid
    }
    match kind {
        Uncertainty::LeastConfident => scores(stats, Uncertainty::LeastConfident, tol, out),
        Uncertainty::Margin => scores(stats, Uncertainty::Margin, tol, out),
        Uncertainty::Entropy => scores(stats, Uncertainty::Entropy, tol, out),
    }
}

fn check_probs<T: Real>(probs: &ArrayView2<T>, tol: T) -> Result<()> {
    check_probability_shape(
        probs.nrows(),
        probs.ncols(),
        Input::Probabilities,
        "an uncertainty score",
        tol,
    )
}

/// What every kernel over class probabilities checks before scoring: `what` has rows, at
/// least two classes for `measure` to compare, and `tol` is a finite number `>= 0`.
pub(crate) fn check_probability_shape<T: Real>(
    rows: usize,
    classes: usize,
    what: Input,
    measure: &'static str,
    tol: T,
) -> Result<()> {
    if rows == 0 {
        return Err(KernelError::Empty { what });
    }
    if classes < 2 {
        return Err(KernelError::TooFewClasses {
            what: measure,
            min: 2,
            got: classes,
        });
    }
    if !(tol >= T::zero() && tol.is_finite()) {
        return Err(KernelError::InvalidTolerance {
            tol: tol.to_f64_lossless(),
        });
    }
    Ok(())
}

/// Score rows `start..start + out.len()` into `out`, or name the first invalid one.
///
/// A block of a C-contiguous matrix is read in place; any other layout is first copied into a
/// contiguous buffer, so that every layout gives the same scores.
fn score_block<T: Real>(
    probs: &ArrayView2<T>,
    start: usize,
    kind: Uncertainty,
    tol: T,
    out: &mut [T],
) -> Result<()> {
    let rows = contiguous_rows(probs, start, out.len());
    score_rows(&rows, probs.ncols(), start, kind, tol, out)
}

/// [`score_block`] on the block's rows already in one row-major slice `x` (`c` values a row).
fn score_rows<T: Real>(
    x: &[T],
    c: usize,
    start: usize,
    kind: Uncertainty,
    tol: T,
    out: &mut [T],
) -> Result<()> {
    let mut stats = vec![RowStats::zero(); out.len()];
    block_stats(x, c, kind, &mut stats);
    if scores_if_valid(&stats, kind, tol, out) {
        return Ok(());
    }
    first_invalid(&stats, start, tol)
}

/// The error of the first row (rows numbered from `start`) whose `sum` and `min` fail
/// [`finish`]'s checks, or `Ok` if none does (those two are all the checks read).
fn first_invalid<T: Real>(stats: &[RowStats<T>], start: usize, tol: T) -> Result<()> {
    for (i, st) in (start..).zip(stats) {
        // The measure does not matter: only the score of a valid row depends on it.
        finish(st, Uncertainty::LeastConfident, tol)
            .map_err(|reason| KernelError::InvalidProbability { row: i, reason })?;
    }
    Ok(())
}

/// [`score_block`] for entropy top-k, given `bar`: a score that `k` rows seen already beat or
/// tie (the caller's running selection), none yet, or a request to score every row. Rows
/// first get [`ENTROPY_UPPER`] statistics, about three vector operations a value where the
/// logarithm takes sixteen; without a bar (or with one not above zero) the `k`-th largest of
/// the block's lower bounds serves. A row whose upper bound ([`EntropyBound`]) is below the
/// bar cannot be among the `k` best and is scored `-inf` without its logarithms; the others
/// get their exact scores. For rows narrower than [`LANES`], when no positive bar can be had,
/// or when a row is invalid (to name it as [`score_block`] does), every row is scored
/// exactly. Returns how many rows were scored exactly.
fn score_block_entropy_top<T: Real>(
    probs: &ArrayView2<T>,
    start: usize,
    tol: T,
    k: usize,
    bar: Bar<T>,
    out: &mut [T],
) -> Result<usize> {
    let c = probs.ncols();
    let known = match bar {
        Bar::Known(b) if c >= LANES => b.to_f64_lossless(),
        Bar::Unknown if c >= LANES && out.len() >= k => f64::NEG_INFINITY,
        _ => return score_block(probs, start, Uncertainty::Entropy, tol, out).map(|()| out.len()),
    };
    let rows = contiguous_rows(probs, start, out.len());
    let x = &rows[..];
    let every_row =
        |out: &mut [T]| score_rows(x, c, start, Uncertainty::Entropy, tol, out).map(|()| out.len());
    let mut stats = vec![RowStats::zero(); out.len()];
    block_pass_with(best_isa(), x, c, Pass::EntropyUpper, &mut stats);
    // The same `sum` and `min` as the entropy pass, so the same verdicts (and errors). A
    // branch-free loop (a fold, not `all`), which vectorises.
    let valid = stats.iter().fold(true, |v, st| v & row_passes(st, tol));
    if !valid {
        first_invalid(&stats, start, tol)?;
        return every_row(out); // not reached: some row fails the same checks
    }
    let bound = EntropyBound::new::<T>(c, tol.to_f64_lossless());
    // No bar yet, or a low one: the `k`-th largest lower bound in this block is one too (`k`
    // of its rows score at least that).
    let mut bar = known;
    if out.len() >= k && bar <= 0.0 {
        let mut lower: Vec<f64> = stats.iter().map(|st| bound.lower(st)).collect();
        let (_, kth, _) = lower.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        bar = bar.max(*kth);
    }
    if bar <= 0.0 {
        return every_row(out);
    }
    for (o, st) in out.iter_mut().zip(&stats) {
        // `!(bound < bar)`: a NaN bound keeps the row.
        *o = if bound.of(st) < bar {
            T::neg_infinity()
        } else {
            T::nan()
        };
    }
    // Exact scores for the runs of rows that may beat the bar (marked NaN above); a chunk of
    // 16 rows with none is passed over after one vectorised test.
    let mut exact = 0;
    let mut i = 0;
    while i < out.len() {
        if i % 16 == 0 && i + 16 <= out.len() {
            let marked = out[i..i + 16].iter().fold(false, |m, v| m | v.is_nan());
            if !marked {
                i += 16;
                continue;
            }
        }
        if !out[i].is_nan() {
            i += 1;
            continue;
        }
        let end = (i..out.len())
            .find(|&j| !out[j].is_nan())
            .unwrap_or(out.len());
        let run = &mut stats[i..end];
        block_stats(&x[i * c..end * c], c, Uncertainty::Entropy, run);
        for (o, st) in out[i..end].iter_mut().zip(run.iter()) {
            *o = score_of(st, Uncertainty::Entropy);
        }
        exact += end - i;
        i = end;
    }
    Ok(exact)
}

/// The uncertainty score of every row.
///
/// # Errors
/// [`KernelError::Empty`] for no rows, [`KernelError::TooFewClasses`] for fewer than two
/// columns, [`KernelError::InvalidProbability`] naming the first invalid row.
///
/// # Examples
/// ```
/// use activekit_core::{uncertainty_scores, Uncertainty};
/// use ndarray::array;
/// let p = array![[0.9_f64, 0.1], [0.6, 0.4]];
/// let s = uncertainty_scores(p.view(), Uncertainty::Margin, 1e-6).unwrap();
/// assert!((s[0] - 0.2).abs() < 1e-12 && (s[1] - 0.8).abs() < 1e-12);
/// ```
pub fn uncertainty_scores<T: Real>(
    probs: ArrayView2<T>,
    kind: Uncertainty,
    tol: T,
) -> Result<Array1<T>> {
    check_probs(&probs, tol)?;
    scores_by_block(probs.nrows(), |start, out| {
        score_block(&probs, start, kind, tol, out)
    })
}

/// The `k` most uncertain rows, most uncertain first (equal scores: lowest row first), with
/// their scores. Scoring and selection are fused: no score vector over the pool is kept.
///
/// # Errors
/// As [`uncertainty_scores`], and [`KernelError::InvalidK`] unless `1 <= k <= n`.
///
/// # Examples
/// ```
/// use activekit_core::{uncertainty_top_k, Uncertainty};
/// use ndarray::array;
/// let p = array![[0.9_f32, 0.1], [0.5, 0.5], [0.7, 0.3]];
/// let top = uncertainty_top_k(p.view(), Uncertainty::LeastConfident, 2, 1e-4).unwrap();
/// assert_eq!(top.indices, vec![1, 2]);
/// ```
pub fn uncertainty_top_k<T: Real>(
    probs: ArrayView2<T>,
    kind: Uncertainty,
    k: usize,
    tol: T,
) -> Result<TopK<T>> {
    check_probs(&probs, tol)?;
    check_k(k, probs.nrows())?;
    if kind == Uncertainty::Entropy {
        return top_k_by_block_with_bar(probs.nrows(), k, |start, out, bar| {
            score_block_entropy_top(&probs, start, tol, k, bar, out)
        });
    }
    top_k_by_block(probs.nrows(), k, |start, out| {
        score_block(&probs, start, kind, tol, out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::XorShift;
    use crate::topk::BLOCK;
    use ndarray::{array, Array2};
    use proptest::prelude::*;

    fn reference(p: &Array2<f64>, kind: Uncertainty) -> Vec<f64> {
        p.rows()
            .into_iter()
            .map(|r| {
                let mut v: Vec<f64> = r.to_vec();
                v.sort_by(|a, b| b.partial_cmp(a).unwrap());
                match kind {
                    Uncertainty::LeastConfident => 1.0 - v[0],
                    Uncertainty::Margin => 1.0 - (v[0] - v[1]),
                    Uncertainty::Entropy => -v
                        .iter()
                        .map(|&x| if x > 0.0 { x * x.ln() } else { 0.0 })
                        .sum::<f64>(),
                }
            })
            .collect()
    }

    #[test]
    fn known_answers() {
        let p = array![[0.7_f64, 0.2, 0.1], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0]];
        let lc = uncertainty_top_k(p.view(), Uncertainty::LeastConfident, 3, 1e-9).unwrap();
        // Lowest top probability first: row 1 (0.4), then 2 (0.5), then 0 (0.7).
        assert_eq!(lc.indices, vec![1, 2, 0]);
        let m = uncertainty_top_k(p.view(), Uncertainty::Margin, 3, 1e-9).unwrap();
        // Smallest gap first: row 2 (0), row 1 (0.05), row 0 (0.5).
        assert_eq!(m.indices, vec![2, 1, 0]);
        let e = uncertainty_top_k(p.view(), Uncertainty::Entropy, 1, 1e-9).unwrap();
        assert_eq!(e.indices, vec![1]);
    }

    /// `scores_if_valid` is `finish` over a block: every row valid exactly when `finish`
    /// accepts every row, and then the same bits; checked on statistics with NaN, infinities,
    /// negative values, `-0`, sums at and beyond the tolerance.
    #[test]
    fn block_scores_are_finish() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            0.5,
            -1e-30,
            -0.25,
            1.0 + 1e-7,
            1.0 - 1e-5,
            1.0 + 1e-3,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -2.5,
            0.7,
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut draw = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            specials[(state % specials.len() as u64) as usize]
        };
        for kind in [
            Uncertainty::LeastConfident,
            Uncertainty::Margin,
            Uncertainty::Entropy,
        ] {
            for tol in [0.0, 1e-6, 1e-4, 0.5] {
                for n in [1, 3, 17, 64] {
                    for _ in 0..50 {
                        let stats: Vec<RowStats<f64>> = (0..n)
                            .map(|i| RowStats {
                                // Mostly valid rows, so that whole blocks pass too.
                                sum: if i % 5 == 0 { draw() } else { 1.0 },
                                min: if i % 7 == 0 { draw() } else { 0.0 },
                                a: -draw(),
                                b: draw(),
                            })
                            .collect();
                        let mut out = vec![0.0; n];
                        let valid = scores_if_valid(&stats, kind, tol, &mut out);
                        let each: Vec<_> = stats.iter().map(|st| finish(st, kind, tol)).collect();
                        assert_eq!(valid, each.iter().all(|r| r.is_ok()), "{kind:?} {tol}");
                        if valid {
                            for (o, r) in out.iter().zip(&each) {
                                assert_eq!(o.to_bits(), r.clone().unwrap().to_bits());
                            }
                        }
                        // The same block with every row's checks passing.
                        let clean: Vec<_> = stats
                            .iter()
                            .map(|st| RowStats {
                                sum: 1.0,
                                min: 0.0,
                                ..*st
                            })
                            .collect();
                        assert!(scores_if_valid(&clean, kind, tol, &mut out));
                        for (o, st) in out.iter().zip(&clean) {
                            let want = finish(st, kind, tol).map(f64::to_bits);
                            assert_eq!(Ok(o.to_bits()), want, "{kind:?} {st:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_invalid_rows_naming_the_first() {
        let p = array![[0.5_f32, 0.5], [0.2, 0.2], [f32::NAN, 1.0], [-0.1, 1.1]];
        let err = uncertainty_scores(p.view(), Uncertainty::Entropy, 1e-4).unwrap_err();
        assert!(matches!(
            err,
            KernelError::InvalidProbability { row: 1, .. }
        ));
        let p = array![[0.5_f32, 0.5], [f32::NAN, 1.0]];
        let err = uncertainty_top_k(p.view(), Uncertainty::Margin, 1, 1e-4).unwrap_err();
        assert!(matches!(
            err,
            KernelError::InvalidProbability { row: 1, .. }
        ));
        let p = array![[-0.1_f64, 1.1]];
        let err = uncertainty_scores(p.view(), Uncertainty::Margin, 1e-4).unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
    }

    #[test]
    fn rejects_bad_shapes() {
        let p = Array2::<f64>::zeros((0, 3));
        assert!(matches!(
            uncertainty_scores(p.view(), Uncertainty::Margin, 1e-6),
            Err(KernelError::Empty { .. })
        ));
        let p = Array2::<f64>::ones((3, 1));
        assert!(matches!(
            uncertainty_scores(p.view(), Uncertainty::Margin, 1e-6),
            Err(KernelError::TooFewClasses { got: 1, .. })
        ));
    }

    fn prob_matrix() -> impl Strategy<Value = Array2<f64>> {
        (1..300usize, 2..40usize).prop_flat_map(|(n, c)| {
            prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64], n * c).prop_map(
                move |v| {
                    let mut a = Array2::from_shape_vec((n, c), v).unwrap();
                    for mut r in a.rows_mut() {
                        let s: f64 = r.sum();
                        if s == 0.0 {
                            r[0] = 1.0;
                        } else {
                            r /= s;
                        }
                    }
                    a
                },
            )
        })
    }

    fn bits<T: Real>(st: &RowStats<T>) -> [u64; 4] {
        [st.sum, st.min, st.a, st.b].map(|v| v.to_f64_lossless().to_bits())
    }

    fn isas_agree<T: Real>(p: &Array2<T>) {
        let x = p.as_slice().unwrap();
        let c = p.ncols();
        let zero = RowStats {
            sum: T::zero(),
            min: T::zero(),
            a: T::zero(),
            b: T::zero(),
        };
        for kind in [
            Uncertainty::LeastConfident,
            Uncertainty::Margin,
            Uncertainty::Entropy,
        ] {
            let mut want = vec![zero; p.nrows()];
            block_stats_with(Isa::Baseline, x, c, kind, &mut want);
            for isa in crate::isa::supported_isas() {
                let mut got = vec![zero; p.nrows()];
                block_stats_with(isa, x, c, kind, &mut got);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(bits(g), bits(w), "{isa:?} {kind:?} c={c} row {i}");
                }
            }
        }
        // The entropy bound's pass: the same bits everywhere, and the entropy pass's sum and
        // minimum (so the same validity verdicts).
        let mut exact = vec![zero; p.nrows()];
        block_stats_with(Isa::Baseline, x, c, Uncertainty::Entropy, &mut exact);
        let mut want = vec![zero; p.nrows()];
        block_pass_with(Isa::Baseline, x, c, Pass::EntropyUpper, &mut want);
        for isa in crate::isa::supported_isas() {
            let mut got = vec![zero; p.nrows()];
            block_pass_with(isa, x, c, Pass::EntropyUpper, &mut got);
            for (i, ((g, w), e)) in got.iter().zip(&want).zip(&exact).enumerate() {
                assert_eq!(bits(g), bits(w), "{isa:?} entropy bound c={c} row {i}");
                assert_eq!(bits(g)[..2], bits(e)[..2], "{isa:?} sum, min c={c} row {i}");
            }
        }
    }

    /// Rows of `c` probabilities as a model might give them: a softmax of normal logits at
    /// `scale` (peaked for a large scale), with exact zeros, `tiny` values and duplicated
    /// rows mixed in, renormalised in `T` and then nudged so that sums sit anywhere within
    /// `tol` of one.
    fn model_rows<T: Real>(n: usize, c: usize, seed: u64, tiny: T, tol: f64) -> Array2<T> {
        let mut s = XorShift(seed | 1);
        let mut v = Vec::with_capacity(n * c);
        for r in 0..n {
            if r % 97 == 5 && r > 0 {
                let prev: Vec<T> = v[(r - 1) * c..r * c].to_vec();
                v.extend(prev);
                continue;
            }
            let scale = 0.5 + 6.0 * XorShift::unit(s.next_u64());
            let logits: Vec<f64> = (0..c)
                .map(|_| {
                    // Box-Muller from two uniforms.
                    let (u1, u2) = (XorShift::unit(s.next_u64()), XorShift::unit(s.next_u64()));
                    scale * (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
                })
                .collect();
            let top = logits.iter().cloned().fold(f64::MIN, f64::max);
            let mut row: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
            for x in row.iter_mut() {
                match s.next_u64() % 23 {
                    0 => *x = 0.0,
                    1 => *x = tiny.to_f64_lossless(),
                    _ => {}
                }
            }
            let total: f64 = row.iter().sum();
            let nudge = 1.0 + tol * (2.0 * XorShift::unit(s.next_u64()) - 1.0) * 0.9;
            v.extend(row.iter().map(|x| T::from(x / total * nudge).unwrap()));
        }
        Array2::from_shape_vec((n, c), v).unwrap()
    }

    fn upper_bounds_hold<T: Real>(tiny: T, tol: f64) {
        for c in [16, 17, 31, 100, 257] {
            let p = model_rows::<T>(400, c, c as u64, tiny, tol);
            let x = p.as_slice().unwrap();
            let mut exact = vec![RowStats::zero(); p.nrows()];
            block_stats(x, c, Uncertainty::Entropy, &mut exact);
            let mut upper = vec![RowStats::zero(); p.nrows()];
            block_pass_with(best_isa(), x, c, Pass::EntropyUpper, &mut upper);
            let mut gap = 0.0_f64;
            for (i, (e, u)) in exact.iter().zip(&upper).enumerate() {
                let score = finish(e, Uncertainty::Entropy, T::from(tol).unwrap()).unwrap();
                let bounds = EntropyBound::new::<T>(c, tol);
                let (bound, lower) = (bounds.of(u).max(0.0), bounds.lower(u));
                assert!(
                    bound >= score.to_f64_lossless(),
                    "c={c} row {i}: {bound} < {score}"
                );
                assert!(
                    lower <= score.to_f64_lossless(),
                    "c={c} row {i}: {lower} > {score}"
                );
                let width = bounds.of(u) - lower;
                assert!(
                    width < 0.0597 * 1.1 + 1e-3,
                    "c={c} row {i}: {lower} + {width}"
                );
                gap = gap.max(bound - score.to_f64_lossless());
            }
            // Useful as well as safe: within Mitchell's 0.0597 a unit of mass (plus slack).
            assert!(
                gap < 0.0597 * (1.0 + tol) + 1e-3,
                "c={c}: bound {gap} above the score"
            );
        }
    }

    #[test]
    fn entropy_upper_bounds_the_exact_score() {
        upper_bounds_hold::<f32>(1e-40, 1e-4);
        upper_bounds_hold::<f32>(1e-30, 0.05);
        upper_bounds_hold::<f64>(1e-310, 1e-9);
        upper_bounds_hold::<f64>(1e-300, 0.05);
        // Rows on which the bound is tight: one-hot (0), uniform over a power of two.
        for c in [16_usize, 64] {
            let mut p = Array2::<f32>::zeros((2, c));
            p[[0, 3]] = 1.0;
            p.row_mut(1).fill(1.0 / c as f32);
            let mut upper = vec![RowStats::zero(); 2];
            block_pass_with(
                best_isa(),
                p.as_slice().unwrap(),
                c,
                Pass::EntropyUpper,
                &mut upper,
            );
            let bound = EntropyBound::new::<f32>(c, 1e-4);
            assert!(bound.of(&upper[0]) < 1e-3);
            let uniform = (c as f64).ln();
            let b = bound.of(&upper[1]);
            assert!(b >= uniform && b < uniform + 1e-3, "{b} vs {uniform}");
        }
        // Invalid statistics rule nothing out.
        let nan = RowStats {
            sum: f32::NAN,
            min: 0.0,
            a: f32::NAN,
            b: 0.0,
        };
        assert!(EntropyBound::new::<f32>(100, 1e-4).of(&nan).is_nan());
    }

    fn pruned_top_k_is_exact<T: Real>(tol: f64) {
        let tolt = T::from(tol).unwrap();
        // More than one block of rows, so that later blocks see a bar; k from 1 to 600.
        for (n, c, k) in [
            (5000, 16, 1),
            (5000, 40, 7),
            (4500, 100, 100),
            (4200, 17, 600),
        ] {
            let p = model_rows::<T>(n, c, (n + c + k) as u64, T::min_positive_value(), tol);
            let exact = uncertainty_scores(p.view(), Uncertainty::Entropy, tolt).unwrap();
            let want = crate::top_k(exact.view(), k).unwrap();
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool
                    .install(|| uncertainty_top_k(p.view(), Uncertainty::Entropy, k, tolt))
                    .unwrap();
                assert_eq!(got, want, "n={n} c={c} k={k} threads={threads}");
            }
            // The first block finds a bar of its own among its rows' lower bounds: what it
            // rules out scores below the block's k-th best.
            let mut out = vec![T::zero(); BLOCK];
            let scored = score_block_entropy_top(&p.view(), 0, tolt, k, Bar::Unknown, &mut out);
            let scored = scored.unwrap();
            let mut first: Vec<T> = exact.iter().take(BLOCK).copied().collect();
            first.sort_by(|a, b| b.partial_cmp(a).unwrap());
            let kth = first[k - 1];
            assert!(
                scored < out.len() / 2,
                "n={n} c={c} k={k}: {scored} of {}",
                out.len()
            );
            for (i, o) in out.iter().enumerate() {
                if o.is_infinite() {
                    assert!(exact[i] < kth, "row {i} ruled out at {} >= {kth}", exact[i]);
                } else {
                    assert_eq!(
                        o.to_f64_lossless().to_bits(),
                        exact[i].to_f64_lossless().to_bits()
                    );
                }
            }
            // The second block is scored with a bar, and most of its rows are ruled out.
            let bar = want.scores[k - 1];
            let mut out = vec![T::zero(); BLOCK.min(n - BLOCK)];
            let scored =
                score_block_entropy_top(&p.view(), BLOCK, tolt, k, Bar::Known(bar), &mut out);
            let scored = scored.unwrap();
            assert!(
                scored < out.len() / 2,
                "n={n} c={c} k={k}: {scored} of {}",
                out.len()
            );
            for (i, o) in out.iter().enumerate() {
                let e = exact[BLOCK + i];
                if o.is_infinite() {
                    assert!(e < bar, "row {} ruled out at {e} >= bar {bar}", BLOCK + i);
                } else {
                    assert_eq!(o.to_f64_lossless().to_bits(), e.to_f64_lossless().to_bits());
                }
            }
        }
    }

    #[test]
    fn pruned_entropy_top_k_is_the_exact_selection() {
        pruned_top_k_is_exact::<f32>(1e-4);
        pruned_top_k_is_exact::<f64>(1e-9);
        pruned_top_k_is_exact::<f32>(0.01);
    }

    #[test]
    fn pruned_entropy_top_k_names_the_first_invalid_row() {
        let mut p = model_rows::<f32>(5000, 30, 3, 1e-30, 1e-4);
        p[[4000, 2]] = -0.5;
        p[[4500, 2]] = f32::NAN;
        let err = uncertainty_top_k(p.view(), Uncertainty::Entropy, 5, 1e-4).unwrap_err();
        assert!(
            matches!(err, KernelError::InvalidProbability { row: 4000, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn every_instruction_set_gives_identical_bits() {
        // Row counts that leave a partial group of narrow rows; widths on both sides of LANES.
        for c in [2, 3, 10, 15, 16, 17, 31, 32, 100, 257] {
            let n = 3 * LANES + 5;
            let mut rng = XorShift(0x2545_f491_4f6c_dd1d_u64 ^ c as u64);
            let mut p = Array2::<f64>::zeros((n, c));
            for (i, mut r) in p.rows_mut().into_iter().enumerate() {
                // Exact zeros, tiny values and ordinary ones.
                r.mapv_inplace(|_| rng.probability());
                if i % 5 == 0 {
                    r[i % c] = 1.0; // a clear maximum
                }
                let s: f64 = r.sum();
                r /= s;
            }
            isas_agree(&p);
            isas_agree(&p.mapv(|v| v as f32));
        }
    }

    /// Rows of `c` values: probabilities with exact zeros, `-0`, subnormals and clear
    /// maxima, and (every `bad`-th row) one NaN, infinity, negative or huge value.
    fn rows_with_specials<T: Real>(n: usize, c: usize, seed: u64, specials: &[T]) -> Vec<T> {
        let mut rng = XorShift(seed);
        let mut x = Vec::with_capacity(n * c);
        for i in 0..n {
            let mut row: Vec<f64> = (0..c).map(|_| rng.probability()).collect();
            if i % 4 == 0 {
                row[(i / 4) % c] = 1.0;
            }
            let s: f64 = row.iter().sum();
            let mut row: Vec<T> = row.iter().map(|v| T::from(v / s).unwrap()).collect();
            if i % 6 == 1 {
                row[(i * 7) % c] = T::neg_zero();
            }
            if i % 3 == 2 {
                row[(i * 13) % c] = specials[(i / 3) % specials.len()];
            }
            x.extend(row);
        }
        x
    }

    /// Every statistic of every row through the block kernel (rows folded sixteen at a time by
    /// [`fold_group`], a partial group last) on every instruction set, bit for bit as
    /// [`wide_row`] folds each row alone: NaN, infinities, negative values, `-0` included.
    fn group_fold_matches_wide_row<T: Real>(specials: &[T]) {
        for c in [16, 17, 24, 31, 32, 33, 64, 100, 129, 257, 1000] {
            for n in [1, 15, 16, 17, 2 * GROUP + 5] {
                let x = rows_with_specials(n, c, 0x2545_f491_4f6c_dd1d ^ (c * n) as u64, specials);
                for (kind, want) in [
                    (
                        Uncertainty::LeastConfident,
                        x.chunks_exact(c)
                            .map(wide_row::<T, LEAST_CONFIDENT>)
                            .collect::<Vec<_>>(),
                    ),
                    (
                        Uncertainty::Margin,
                        x.chunks_exact(c).map(wide_row::<T, MARGIN>).collect(),
                    ),
                    (
                        Uncertainty::Entropy,
                        x.chunks_exact(c).map(wide_row::<T, ENTROPY>).collect(),
                    ),
                ] {
                    for isa in crate::isa::supported_isas() {
                        let mut got = vec![RowStats::zero(); n];
                        block_stats_with(isa, &x, c, kind, &mut got);
                        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                            assert_eq!(bits(g), bits(w), "{isa:?} {kind:?} c={c} n={n} row {i}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn group_fold_is_wide_rows_fold() {
        group_fold_matches_wide_row::<f32>(&[
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.25,
            1e-45,
            3.0e38,
        ]);
        group_fold_matches_wide_row::<f64>(&[
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.25,
            5e-324,
            1.0e308,
        ]);
    }

    proptest! {
        #[test]
        fn a_row_scores_the_same_anywhere(p in prob_matrix()) {
            // Alone, or at any position in a block (in a group of narrow rows or not).
            let p32 = p.mapv(|x| x as f32);
            for kind in [Uncertainty::LeastConfident, Uncertainty::Margin, Uncertainty::Entropy] {
                let all = uncertainty_scores(p32.view(), kind, 1e-4).unwrap();
                for (i, row) in p32.rows().into_iter().enumerate() {
                    let one = uncertainty_scores(row.insert_axis(ndarray::Axis(0)), kind, 1e-4)
                        .unwrap();
                    prop_assert_eq!(one[0].to_bits(), all[i].to_bits(), "{:?} row {}", kind, i);
                }
            }
        }

        #[test]
        fn scores_match_reference(p in prob_matrix()) {
            for kind in [Uncertainty::LeastConfident, Uncertainty::Margin, Uncertainty::Entropy] {
                let want = reference(&p, kind);
                let got = uncertainty_scores(p.view(), kind, 1e-9).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!((g - w).abs() < 1e-12, "{:?}: {} vs {}", kind, g, w);
                }
                let p32 = p.mapv(|x| x as f32);
                let got32 = uncertainty_scores(p32.view(), kind, 1e-4).unwrap();
                for (g, w) in got32.iter().zip(&want) {
                    prop_assert!((f64::from(*g) - w).abs() < 1e-5, "{:?}: {} vs {}", kind, g, w);
                }
                // Fused selection agrees with scoring then selecting.
                let k = p.nrows().min(7);
                let fused = uncertainty_top_k(p.view(), kind, k, 1e-9).unwrap();
                let split = crate::top_k(got.view(), k).unwrap();
                prop_assert_eq!(fused, split);
            }
        }

        #[test]
        fn strided_rows_score_like_contiguous(p in prob_matrix()) {
            let t = p.t().to_owned();
            let view = t.t();
            let a = uncertainty_scores(view, Uncertainty::Entropy, 1e-9).unwrap();
            let b = uncertainty_scores(p.view(), Uncertainty::Entropy, 1e-9).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
