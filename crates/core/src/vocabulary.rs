//! One declaration per vocabulary enum (sources, categories, severities,
//! statuses, close codes, ...): each variant is written once with its
//! name, and its wire code where it has one, and [`vocabulary!`] makes
//! `ALL`, `name`, `from_name`, `Display` and, for coded enums, `code` and
//! `from_code` from that line. Before, each of these was a hand-written
//! table that had to be kept in step with the others.
//!
//! Coded enums list their variants in wire-code order, checked at compile
//! time, so `ALL` is in code order as callers index it.
//!
//! A macro of ours rather than strum's derives: strum names variants, but
//! the `ALL` arrays (used as array lengths in consts), the code look-ups
//! and the method names callers use would still be written per enum.

/// Declares a vocabulary enum.
///
/// ```text
/// vocabulary! {
///     /// Doc.
///     #[derive(Serialize, Deserialize)]
///     #[serde(rename_all = "snake_case")]
///     pub enum Source: u8 {
///         /// Doc.
///         Sensor = 1 => "sensor",
///     }
/// }
/// ```
///
/// `: u8` (any integer type) gives the enum that representation and
/// `code` / `from_code`; without it the variants have no wire code.
/// `Debug, Clone, Copy, PartialEq, Eq, Hash` are derived; further
/// derives go in the attributes. `Display` writes the name, unless the
/// header ends in `, own Display` (the enum implements it itself).
/// Serde's `rename_all = "snake_case"` gives the same names as written
/// here for this project's variants; `vocabulary::tests` keeps the two
/// in step.
macro_rules! vocabulary {
    (
        @names $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident $(= $code:literal)? => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant $(= $code)?, )*
        }

        impl $name {
            /// Every variant, in declaration (and wire-code) order.
            pub const ALL: [Self; [$($text),*].len()] = [$(Self::$variant),*];

            /// The name, as configs, JSON, metric labels and messages spell it.
            #[inline]
            pub fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )*
                }
            }

            /// The variant with this name, if any.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $text => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }
    };
    (@display $name:ident) => {
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $repr:ident, own Display {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )*
        }
    ) => {
        $crate::vocabulary::vocabulary! {
            @names $(#[$meta])* #[repr($repr)]
            $vis enum $name { $( $(#[$vmeta])* $variant = $code => $text, )* }
        }

        impl $name {
            /// The wire code.
            #[inline]
            pub fn code(self) -> $repr {
                self as $repr
            }

            /// The variant with this wire code, if any. Takes any integer
            /// type: a number that does not fit the code's type is none.
            #[inline]
            pub fn from_code(code: impl TryInto<$repr>) -> Option<Self> {
                match code.try_into().ok()? {
                    $( $code => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }

        // `ALL` is in wire-code order: dense per-code arrays index it.
        const _: () = {
            let codes: &[$repr] = &[$($code),*];
            let mut i = 1;
            while i < codes.len() {
                assert!(
                    codes[i - 1] < codes[i],
                    concat!(stringify!($name), ": list the variants in wire-code order")
                );
                i += 1;
            }
        };
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $repr:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )*
        }
    ) => {
        $crate::vocabulary::vocabulary! {
            $(#[$meta])*
            $vis enum $name: $repr, own Display {
                $( $(#[$vmeta])* $variant = $code => $text, )*
            }
        }
        $crate::vocabulary::vocabulary!(@display $name);
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )*
        }
    ) => {
        $crate::vocabulary::vocabulary! {
            @names $(#[$meta])*
            $vis enum $name { $( $(#[$vmeta])* $variant => $text, )* }
        }
        $crate::vocabulary::vocabulary!(@display $name);
    };
}

pub(crate) use vocabulary;

#[cfg(test)]
mod tests {
    use crate::dispatch::record::Status;
    use crate::engine::rules::Mode;
    use crate::model::{Category, Severity, Source};
    use crate::wire::control::{Outcome, Role};
    use serde::{de::DeserializeOwned, Serialize};
    use std::fmt::Debug;

    /// Serde's names (JSON, TOML) and `name()` are the same words, and
    /// each name reads back as its variant.
    fn names_agree<T>(all: &[T], name: fn(T) -> &'static str, from_name: fn(&str) -> Option<T>)
    where
        T: Copy + PartialEq + Debug + Serialize + DeserializeOwned,
    {
        for &v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), name(v), "{v:?}");
            assert_eq!(
                serde_json::from_value::<T>(name(v).into()).unwrap(),
                v,
                "{v:?}"
            );
            assert_eq!(from_name(name(v)), Some(v));
        }
        assert_eq!(from_name("no_such_name"), None);
    }

    #[test]
    fn serde_names_are_the_vocabulary_names() {
        names_agree(&Source::ALL, Source::name, Source::from_name);
        names_agree(&Category::ALL, Category::name, Category::from_name);
        names_agree(&Severity::ALL, Severity::name, Severity::from_name);
        names_agree(&Status::ALL, Status::name, Status::from_name);
        names_agree(&Outcome::ALL, Outcome::name, Outcome::from_name);
        names_agree(&Role::ALL, Role::name, Role::from_name);
        names_agree(&Mode::ALL, Mode::name, Mode::from_name);
    }
}
