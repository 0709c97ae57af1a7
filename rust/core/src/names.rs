//! The names by which callers choose a measure or a metric: one table per enum, from which both
//! the parser and the lists the bindings export are derived.

/// An enum chosen by name. [`Named::NAMES`] is the only list of its names.
pub trait Named: Copy + 'static {
    /// What the names denote, for the message of an unknown name ("uncertainty measure").
    const KIND: &'static str;
    /// Every variant with its name, in the order the Python side lists them.
    const NAMES: &'static [(&'static str, Self)];
}

/// Implement [`Named`] and [`std::str::FromStr`] (through [`parse`]) for an enum from its one
/// table of names: `named!(Type, "kind", ["name" => Variant, ...])`.
macro_rules! named {
    ($ty:ty, $kind:literal, [$($name:literal => $variant:ident),+ $(,)?]) => {
        impl $crate::names::Named for $ty {
            const KIND: &'static str = $kind;
            const NAMES: &'static [(&'static str, Self)] = &[$(($name, Self::$variant)),+];
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> std::result::Result<Self, String> {
                $crate::names::parse(s)
            }
        }
    };
}
pub(crate) use named;

/// The names of `T`'s variants, in the order of [`Named::NAMES`].
pub fn names<T: Named>() -> impl ExactSizeIterator<Item = &'static str> {
    T::NAMES.iter().map(|&(name, _)| name)
}

/// The variant called `s`, or a message that repeats `s` and lists the names alphabetically.
pub(crate) fn parse<T: Named>(s: &str) -> std::result::Result<T, String> {
    if let Some(&(_, variant)) = T::NAMES.iter().find(|&&(name, _)| name == s) {
        return Ok(variant);
    }
    let mut sorted: Vec<&str> = names::<T>().collect();
    sorted.sort_unstable();
    let expected: Vec<String> = sorted.iter().map(|name| format!("{name:?}")).collect();
    Err(format!(
        "unknown {} {s:?}; expected one of {}",
        T::KIND,
        expected.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Disagreement, Metric, Uncertainty, VoteMeasure};
    use std::fmt::Debug;
    use std::str::FromStr;

    /// Each name parses (through `FromStr`) back to the variant it is listed with, and the
    /// variants are distinct.
    fn round_trips<T>()
    where
        T: Named + FromStr<Err = String> + PartialEq + Debug,
    {
        for (i, &(name, variant)) in T::NAMES.iter().enumerate() {
            assert_eq!(name.parse::<T>(), Ok(variant), "{name}");
            for &(_, other) in T::NAMES.iter().skip(i + 1) {
                assert_ne!(variant, other, "{name}");
            }
        }
    }

    #[test]
    fn every_name_parses_back_to_its_variant() {
        round_trips::<Uncertainty>();
        round_trips::<Disagreement>();
        round_trips::<VoteMeasure>();
        round_trips::<Metric>();
    }

    #[test]
    fn the_lists_keep_the_python_order() {
        let list = |v: Vec<&str>| v.join(",");
        assert_eq!(
            list(names::<Uncertainty>().collect()),
            "least_confident,margin,entropy"
        );
        assert_eq!(
            list(names::<Disagreement>().collect()),
            "consensus_entropy,max_disagreement,mean_std"
        );
        assert_eq!(
            list(names::<VoteMeasure>().collect()),
            "vote_entropy,variation_ratio"
        );
        assert_eq!(list(names::<Metric>().collect()), "euclidean,cosine");
    }

    #[test]
    fn an_unknown_name_is_repeated_and_the_names_listed_alphabetically() {
        assert_eq!(
            "nope".parse::<Uncertainty>(),
            Err("unknown uncertainty measure \"nope\"; expected one of \"entropy\", \"least_confident\", \"margin\"".to_string())
        );
        assert_eq!(
            "x".parse::<Disagreement>(),
            Err("unknown disagreement measure \"x\"; expected one of \"consensus_entropy\", \"max_disagreement\", \"mean_std\"".to_string())
        );
        assert_eq!(
            "x".parse::<VoteMeasure>(),
            Err(
                "unknown vote measure \"x\"; expected one of \"variation_ratio\", \"vote_entropy\""
                    .to_string()
            )
        );
        assert_eq!(
            "x".parse::<Metric>(),
            Err("unknown metric \"x\"; expected one of \"cosine\", \"euclidean\"".to_string())
        );
    }
}
