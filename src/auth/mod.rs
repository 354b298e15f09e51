//! Who may do what: tokens and their hashes, the scope a subscriber's
//! token sees, and admission (connection and rate limits). Below both the
//! QUIC sessions and the HTTP handlers, which ask the same questions.

pub mod admission;
pub mod tokens;

pub use tokens::{Auth, AuthError, Principal, TokenHash};
pub use tongguan_core::dispatch::scope::Scope;
