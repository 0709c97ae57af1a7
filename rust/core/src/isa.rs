//! Runtime choice of instruction set for the kernels compiled more than once.
//!
//! The default x86-64 target has only SSE2; hot loops are also compiled under
//! `#[target_feature]` for AVX2 with FMA and for AVX-512F and chosen here once per call. Every
//! variant performs the same IEEE operations in the same order (Rust never contracts a
//! multiply and an add into an FMA unless asked to, and a fused multiply-add asked for with
//! `mul_add` is one correctly rounded operation everywhere: `vfmadd` where the variant has FMA,
//! libm's `fmaf`/`fma` on the baseline), so results are bit-identical across variants; only the
//! width of the instructions differs. Each kernel module tests that.
//!
//! The AVX2 variant requires FMA as well (every AVX2 processor from Intel and AMD has it), so
//! that the `mul_add` of the `f32` logarithm is an instruction there, not a library call.

/// Which compiled variant of a kernel's loops to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Baseline,
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Avx2,
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Avx512,
}

/// The widest variant this CPU runs (detected once; `is_x86_feature_detected!` caches).
pub(crate) fn best_isa() -> Isa {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if avx2_fma() {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// Whether this CPU runs the AVX2 variant: AVX2 and FMA.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[inline]
pub(crate) fn avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Every variant this CPU runs, the baseline first (for tests that compare them).
#[cfg(test)]
pub(crate) fn supported_isas() -> Vec<Isa> {
    let mut v = vec![Isa::Baseline];
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if avx2_fma() {
            v.push(Isa::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            v.push(Isa::Avx512);
        }
    }
    v
}

/// Call one compiled variant of a function, chosen by `isa`; a variant the CPU lacks falls
/// back to the baseline (the guards re-check the features, so a call is never unsound).
///
/// * `dispatch!(isa, f(args))` calls `f` of the modules `baseline`, `avx2` and `avx512` at the
///   call site, whose functions carry the matching `#[target_feature]` (none for `baseline`).
/// * `dispatch!(isa => base, avx2, avx512; (args))` calls the three functions named.
macro_rules! dispatch {
    ($isa:expr, $f:ident($($arg:expr),* $(,)?)) => {
        $crate::isa::dispatch!($isa => baseline::$f, avx2::$f, avx512::$f; ($($arg),*))
    };
    ($isa:expr => $baseline:path, $avx2:path, $avx512:path; ($($arg:expr),* $(,)?)) => {
        match $isa {
            $crate::isa::Isa::Baseline => $baseline($($arg),*),
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            $crate::isa::Isa::Avx2 if $crate::isa::avx2_fma() => {
                // SAFETY: the CPU supports AVX2 and FMA, checked in the match guard.
                unsafe { $avx2($($arg),*) }
            }
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            $crate::isa::Isa::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
                // SAFETY: the CPU supports AVX-512F, checked in the match guard.
                unsafe { $avx512($($arg),*) }
            }
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            _ => $baseline($($arg),*),
        }
    };
}
pub(crate) use dispatch;

/// Define `fn name<T: Bound>(isa: Isa, args...)` that runs the generic function `generic`
/// compiled for the variant `isa` (see [`dispatch!`]): the AVX2 and AVX-512F copies are
/// wrappers under `#[target_feature]` into which `generic` is inlined and vectorised.
macro_rules! multiversion {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident<$T:ident: $bound:path>($($arg:ident: $ty:ty),* $(,)?) = $generic:ident;
    ) => {
        $(#[$attr])*
        $vis fn $name<$T: $bound>(isa: $crate::isa::Isa, $($arg: $ty),*) {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            #[target_feature(enable = "avx2,fma")]
            fn avx2<$T: $bound>($($arg: $ty),*) {
                $generic($($arg),*)
            }
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            #[target_feature(enable = "avx512f")]
            fn avx512<$T: $bound>($($arg: $ty),*) {
                $generic($($arg),*)
            }
            $crate::isa::dispatch!(isa => $generic, avx2, avx512; ($($arg),*))
        }
    };
}
pub(crate) use multiversion;
