//! The one error type of the kernels. The binding crate maps it to Python exceptions in one place.

use std::fmt;

/// An input of a kernel that an error is about. The core describes it in its own words
/// ([`Input::description`]); a caller that names its arguments differently renders the error
/// with [`KernelError::message`] and its own names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The `(n, c)` class probabilities of the uncertainty kernels.
    Probabilities,
    /// The `(m, n, c)` class probabilities of a committee's members.
    CommitteeProbabilities,
    /// The `(m, n)` votes of a committee's members.
    Votes,
    /// The rows of a kernel over one set of rows (k-means++, self-kNN, density), or the rows
    /// whose nearest centre [`crate::min_distances`] finds.
    Rows,
    /// The pool of [`crate::kcenter_greedy`].
    Pool,
    /// The centres of [`crate::kcenter_greedy`] and [`crate::min_distances`].
    Centers,
    /// The cold-start first pick of [`crate::kcenter_greedy`].
    First,
    /// The query rows of [`crate::knn_query`].
    Queries,
    /// The reference rows of [`crate::knn_query`].
    References,
    /// The first factors of [`crate::kmeans_plusplus_outer`]'s outer products (`a`).
    Gradients,
    /// The second factors of [`crate::kmeans_plusplus_outer`]'s outer products (`h`).
    Embeddings,
}

impl Input {
    /// The core's words for the input.
    pub fn description(self) -> &'static str {
        match self {
            Self::Probabilities => "the probability matrix",
            Self::CommitteeProbabilities => "the committee's probability array",
            Self::Votes => "the committee's vote array",
            Self::Rows => "the input matrix",
            Self::Pool => "the pool",
            Self::Centers => "the centre matrix",
            Self::First => "the first pick",
            Self::Queries => "the query matrix",
            Self::References => "the reference matrix",
            Self::Gradients => "the gradient matrix (a)",
            Self::Embeddings => "the embedding matrix (h)",
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// Everything a kernel can refuse. Each message names the offending value.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// An input that needs at least one row (or element) had none.
    Empty { what: Input },

    /// Too few columns for a measure over classes (a margin needs two classes). `what` names
    /// the measure ("an uncertainty score").
    TooFewClasses {
        what: &'static str,
        min: usize,
        got: usize,
    },

    /// An input with too few columns.
    TooFewColumns { what: Input, min: usize, got: usize },

    /// The number of items to select is outside `1..=n`.
    InvalidK { k: usize, n: usize },

    /// A probability row is negative, not finite, or does not sum to one.
    InvalidProbability { row: usize, reason: String },

    /// A committee (or a set of posterior samples) with too few members to disagree.
    TooFewMembers { min: usize, got: usize },

    /// A member's probability row is negative, not finite, or does not sum to one.
    InvalidMemberProbability {
        member: usize,
        row: usize,
        reason: String,
    },

    /// A member's vote that is not a class index.
    InvalidVote {
        member: usize,
        row: usize,
        vote: i64,
        n_classes: usize,
    },

    /// A score is NaN, so it cannot be ranked.
    NanScore { index: usize },

    /// A tolerance that is negative or not finite.
    InvalidTolerance { tol: f64 },

    /// A row holds NaN or an infinity, so it has no distance to anything.
    NonFinite { what: Input, row: usize },

    /// Two matrices whose rows are compared have different numbers of columns.
    WidthMismatch {
        what: Input,
        got: usize,
        other: Input,
        expected: usize,
    },

    /// Two matrices that describe the same rows have different numbers of rows.
    RowMismatch {
        what: Input,
        got: usize,
        other: Input,
        expected: usize,
    },

    /// The cold-start first pick is not a row of the pool.
    InvalidFirst { first: usize, n: usize },

    /// No centres and no first pick: the traversal has nowhere to start.
    MissingFirst,

    /// A first pick was given although the centres determine it.
    FirstWithCentres { m: usize },

    /// The number of neighbours is outside `1..=max`, where `max` is the number of rows of
    /// `of` (minus one when a row is not its own neighbour).
    InvalidNeighbors {
        k: usize,
        max: usize,
        of: Input,
        minus_one: bool,
    },

    /// The reference rows of a neighbour search are not as wide as the query rows.
    ColumnMismatch { got: usize, want: usize },

    /// A row whose squared norm would overflow the float type in the distance computation.
    TooLarge { what: Input, row: usize },

    /// An all-zero row, whose cosine distance to anything is undefined.
    ZeroRow { what: Input, row: usize },

    /// More pool rows than a kernel indexes (it keeps row indices in 32 bits).
    TooManyRows { n: usize, max: usize },

    /// The caller cancelled the kernel (Ctrl-C in Python).
    Cancelled,

    /// The thread pool for the requested number of threads could not be built.
    ThreadPool { threads: usize, reason: String },
}

impl KernelError {
    /// The message, with every input called `name(input)`: the bindings pass their argument
    /// names; [`Display`](fmt::Display) passes [`Input::description`].
    pub fn message(&self, name: impl Fn(Input) -> &'static str) -> String {
        match self {
            Self::Empty { what } => format!("{} is empty: it has no rows", name(*what)),
            Self::TooFewClasses { what, min, got } => {
                format!("{what} (one column per class) needs at least {min} columns, got {got}")
            }
            Self::TooFewColumns { what, min, got } => {
                format!("{} needs at least {min} columns, got {got}", name(*what))
            }
            Self::InvalidK { k, n } => {
                format!("k must be between 1 and the number of rows ({n}), got {k}")
            }
            Self::InvalidProbability { row, reason } => format!("probability row {row} {reason}"),
            Self::TooFewMembers { min, got } => {
                format!("a committee needs at least {min} members, got {got}")
            }
            Self::InvalidMemberProbability {
                member,
                row,
                reason,
            } => format!("probability row {row} of committee member {member} {reason}"),
            Self::InvalidVote {
                member,
                row,
                vote,
                n_classes,
            } => format!(
                "vote of committee member {member} at row {row} is {vote}, not a class index in 0..{n_classes}"
            ),
            Self::NanScore { index } => format!("score at index {index} is NaN and cannot be ranked"),
            Self::InvalidTolerance { tol } => format!("tol must be a finite number >= 0, got {tol}"),
            Self::NonFinite { what, row } => {
                format!("{} row {row} contains NaN or infinity", name(*what))
            }
            Self::WidthMismatch {
                what,
                got,
                other,
                expected,
            } => format!(
                "{} has {got} columns but {} has {expected}",
                name(*what),
                name(*other)
            ),
            Self::RowMismatch {
                what,
                got,
                other,
                expected,
            } => format!(
                "{} has {got} rows but {} has {expected}; they must match",
                name(*what),
                name(*other)
            ),
            Self::InvalidFirst { first, n } => format!(
                "{} must be a row index below the number of pool rows ({n}), got {first}",
                name(Input::First)
            ),
            Self::MissingFirst => format!(
                "{} must be given when there are no centres to start from",
                name(Input::First)
            ),
            Self::FirstWithCentres { m } => format!(
                "{} must not be given when there are centres ({m} rows): the first pick is then the farthest row",
                name(Input::First)
            ),
            Self::InvalidNeighbors {
                k,
                max,
                of,
                minus_one,
            } => format!(
                "k must be between 1 and {max} (the number of rows of {}{}), got {k}",
                name(*of),
                if *minus_one { " minus one" } else { "" }
            ),
            Self::ColumnMismatch { got, want } => format!(
                "{} has {got} columns but {} has {want}; they must match",
                name(Input::References),
                name(Input::Queries)
            ),
            Self::TooLarge { what, row } => format!(
                "{} row {row} is too large: its squared norm overflows the float type",
                name(*what)
            ),
            Self::ZeroRow { what, row } => format!(
                "{} row {row} is all zeros, so its cosine distance is undefined",
                name(*what)
            ),
            Self::TooManyRows { n, max } => format!(
                "{} has {n} rows; at most {max} are supported",
                name(Input::Pool)
            ),
            Self::Cancelled => "cancelled".to_string(),
            Self::ThreadPool { threads, reason } => {
                format!("could not start a pool of {threads} threads: {reason}")
            }
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Input::description))
    }
}

impl std::error::Error for KernelError {}

/// Result type of every kernel.
pub type Result<T> = std::result::Result<T, KernelError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_describes_inputs_in_its_own_words() {
        let err = KernelError::ColumnMismatch { got: 3, want: 2 };
        assert_eq!(
            err.to_string(),
            "the reference matrix has 3 columns but the query matrix has 2; they must match"
        );
        assert_eq!(
            KernelError::FirstWithCentres { m: 2 }.to_string(),
            "the first pick must not be given when there are centres (2 rows): the first pick is then the farthest row"
        );
    }

    #[test]
    fn a_caller_names_the_inputs() {
        let python = |input| match input {
            Input::Pool => "X_pool",
            Input::Centers => "X_centers",
            other => other.description(),
        };
        let err = KernelError::NonFinite {
            what: Input::Centers,
            row: 4,
        };
        assert_eq!(
            err.message(python),
            "X_centers row 4 contains NaN or infinity"
        );
        assert_eq!(
            err.to_string(),
            "the centre matrix row 4 contains NaN or infinity"
        );
        let err = KernelError::TooManyRows { n: 5, max: 4 };
        assert_eq!(
            err.message(python),
            "X_pool has 5 rows; at most 4 are supported"
        );
        let err = KernelError::InvalidNeighbors {
            k: 0,
            max: 1,
            of: Input::Rows,
            minus_one: true,
        };
        assert_eq!(
            err.message(|_| "X"),
            "k must be between 1 and 1 (the number of rows of X minus one), got 0"
        );
    }
}
