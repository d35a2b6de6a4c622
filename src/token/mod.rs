//! Tokens: what Entra ID returned ([`AcquiredToken`]) and what passed validation
//! ([`ValidatedToken`], made only here).

pub mod validate;

pub use validate::*;
