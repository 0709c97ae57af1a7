//! The one error type of the kernels. The binding crate maps it to Python exceptions in one place.

use thiserror::Error;

/// Everything a kernel can refuse. Each message names the offending value, so that the Python
/// side can pass it on unchanged.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KernelError {
    /// An input that needs at least one row (or element) had none.
    #[error("{what} is empty: it has no rows")]
    Empty { what: &'static str },

    /// Too few columns for the requested computation (a margin needs two classes).
    #[error("{what} needs at least {min} columns, got {got}")]
    TooFewColumns {
        what: &'static str,
        min: usize,
        got: usize,
    },

    /// The number of items to select is outside `1..=n`.
    #[error("k must be between 1 and the number of rows ({n}), got {k}")]
    InvalidK { k: usize, n: usize },

    /// A probability row is negative, not finite, or does not sum to one.
    #[error("probability row {row} {reason}")]
    InvalidProbability { row: usize, reason: String },

    /// A committee (or a set of posterior samples) with too few members to disagree.
    #[error("a committee needs at least {min} members, got {got}")]
    TooFewMembers { min: usize, got: usize },

    /// A member's probability row is negative, not finite, or does not sum to one.
    #[error("probability row {row} of committee member {member} {reason}")]
    InvalidMemberProbability {
        member: usize,
        row: usize,
        reason: String,
    },

    /// A member's vote that is not a class index.
    #[error(
        "vote of committee member {member} at row {row} is {vote}, not a class index in 0..{n_classes}"
    )]
    InvalidVote {
        member: usize,
        row: usize,
        vote: i64,
        n_classes: usize,
    },

    /// A score is NaN, so it cannot be ranked.
    #[error("score at index {index} is NaN and cannot be ranked")]
    NanScore { index: usize },

    /// A tolerance that is negative or not finite.
    #[error("tol must be a finite number >= 0, got {tol}")]
    InvalidTolerance { tol: f64 },

    /// A row holds NaN or an infinity, so it has no distance to anything.
    #[error("{what} row {row} contains NaN or infinity")]
    NonFinite { what: &'static str, row: usize },

    /// Two matrices whose rows are compared have different numbers of columns.
    #[error("{what} has {got} columns but {other} has {expected}")]
    WidthMismatch {
        what: &'static str,
        got: usize,
        other: &'static str,
        expected: usize,
    },

    /// Two matrices that describe the same rows have different numbers of rows.
    #[error("{what} has {got} rows but {other} has {expected}; they must match")]
    RowMismatch {
        what: &'static str,
        got: usize,
        other: &'static str,
        expected: usize,
    },

    /// The cold-start first pick is not a row of the pool.
    #[error("first must be a row index below the number of pool rows ({n}), got {first}")]
    InvalidFirst { first: usize, n: usize },

    /// No centres and no first pick: the traversal has nowhere to start.
    #[error("first must be given when there are no centres to start from")]
    MissingFirst,

    /// A first pick was given although the centres determine it.
    #[error("first must be None when there are centres ({m} rows): the first pick is then the farthest row")]
    FirstWithCentres { m: usize },

    /// The number of neighbours is outside `1..=max`.
    #[error("k must be between 1 and {max} ({of}), got {k}")]
    InvalidNeighbors {
        k: usize,
        max: usize,
        of: &'static str,
    },

    /// Two matrices that must have the same number of columns do not.
    #[error("X_ref has {got} columns but X has {want}; they must match")]
    ColumnMismatch { got: usize, want: usize },

    /// A row whose squared norm would overflow the float type in the distance computation.
    #[error("{what} row {row} is too large: its squared norm overflows the float type")]
    TooLarge { what: &'static str, row: usize },

    /// An all-zero row, whose cosine distance to anything is undefined.
    #[error("{what} row {row} is all zeros, so its cosine distance is undefined")]
    ZeroRow { what: &'static str, row: usize },

    /// More pool rows than a kernel indexes (it keeps row indices in 32 bits).
    #[error("X_pool has {n} rows; at most {max} are supported")]
    TooManyRows { n: usize, max: usize },

    /// The caller cancelled the kernel (Ctrl-C in Python).
    #[error("cancelled")]
    Cancelled,

    /// The thread pool for the requested number of threads could not be built.
    #[error("could not start a pool of {threads} threads: {reason}")]
    ThreadPool { threads: usize, reason: String },
}

/// Result type of every kernel.
pub type Result<T> = std::result::Result<T, KernelError>;
