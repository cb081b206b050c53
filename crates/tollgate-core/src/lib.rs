//! Tollgate's domain: typed values parsed once at the edge, and the pure engine that turns
//! facts into decisions. Nothing here performs I/O or needs an async runtime, so every rule,
//! ladder and detector can be replayed and benchmarked on its own.

/// A closed set of snake_case names that parse, print and appear in the OpenAPI document alike.
#[macro_export]
macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown value `{other}`; expected one of {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod activity;
pub mod audit;
pub mod cases;
pub mod clock;
pub mod collections;
pub mod customers;
pub mod decisions;
pub mod id;
pub mod money;
pub mod outbox;
pub mod refdata;
pub mod rules;
pub mod signals;
pub mod tenancy;
pub mod usage;
pub mod validate;
pub mod webhooks;

pub use clock::Clock;
pub use id::*;
pub use money::{Currency, Money};
