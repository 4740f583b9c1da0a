//! The words the server, the client, the bench and the tests share, so they cannot drift apart.
//!
//! One definition each of what an amount is ([`money`]), what a date is ([`date`]), which currency
//! labels are well formed and how many decimals each has ([`currency`]), what a rate is and how an
//! amount converts ([`rate`]), the wire error codes ([`code`]), the action names
//! ([`action`]) and which characters may be shown as themselves ([`text`]). Pure types and
//! functions: no I/O, no clock, no sockets. The JSON shapes of requests and replies stay with the
//! programs that build them.

/// An enum of wire words from one list, so `as_str`, `parse` and `ALL` cannot disagree: each
/// variant is written once, beside its text.
macro_rules! wire_words {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word as it is written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant written `text` on the wire; `None` for any other text (exact, case-sensitive).
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
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

pub mod action;
pub mod code;
pub mod currency;
pub mod date;
pub mod money;
pub mod rate;
pub mod text;

pub use action::Action;
pub use code::Code;
pub use currency::is_currency_code;
pub use date::{parse_date, Date, DateError};
pub use money::{suggest_amount, AmountError, AmountSuggestion, Cents, AMOUNT_CENTS_MAX};
