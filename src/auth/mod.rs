//! Who may do what: tokens and their hashes, the scope a subscriber's
//! token sees, and admission (connection and rate limits); people who sign
//! in (the people file, single sign-on, session cookies) and why a
//! refusal was made. Below both the QUIC sessions and the HTTP handlers,
//! which ask the same questions.

pub mod admission;
pub mod cli;
pub mod gate;
pub mod jwks;
pub mod people;
pub mod person;
pub mod refusal;
pub mod session;
pub mod signed_out;
pub mod sso;
pub mod tokens;

pub use tokens::{Auth, AuthError, Principal, TokenHash};
pub use tongguan_core::dispatch::scope::Scope;
