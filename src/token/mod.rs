//! Tokens: what Entra ID returned ([`AcquiredToken`]) and what passed validation
//! ([`ValidatedToken`], made only here).

use secrecy::SecretString;

pub mod validate;

pub use validate::*;

/// A token straight from Entra ID, not yet validated. No `Debug`: it holds the token.
pub struct AcquiredToken {
    pub access_token: SecretString,
    pub expires_in: Option<u64>,
}
