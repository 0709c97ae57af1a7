//! Runtime choice of instruction set for the kernels compiled more than once.
//!
//! The default x86-64 target has only SSE2; hot loops are also compiled under
//! `#[target_feature]` for AVX2 and AVX-512F and chosen here once per call. Every variant
//! performs the same IEEE operations in the same order (Rust never contracts a multiply and an
//! add into an FMA unless asked to), so results are bit-identical across variants; only the
//! width of the instructions differs. Each kernel module tests that.

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
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// Every variant this CPU runs, the baseline first (for tests that compare them).
#[cfg(test)]
pub(crate) fn supported_isas() -> Vec<Isa> {
    let mut v = vec![Isa::Baseline];
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(Isa::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            v.push(Isa::Avx512);
        }
    }
    v
}
