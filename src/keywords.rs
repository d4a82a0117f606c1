//! A closed set of lowercase keywords with one spelling each, shared by the
//! flows.yaml model and the rule criteria, so that parsing, "accepted" lists
//! and did-you-mean hints all come from one table.

/// Declares a closed set of lowercase keywords with their spelling in
/// flows.yaml, so that parsing, "accepted" lists and did-you-mean hints all
/// come from one table.
macro_rules! keywords {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order docs/flows-yaml.md lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The accepted spellings, in the same order as [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The position in [`Self::ALL`].
            pub fn index(self) -> u8 {
                self as u8
            }

            /// The spelling used in flows.yaml and in every report.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the exact flows.yaml spelling.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use keywords;
