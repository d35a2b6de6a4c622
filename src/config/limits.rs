//! `[limits]`: the share of each vault's published Key Vault budget the rotator may use. The
//! vault's consumers and other writers share the same budget, so the defaults leave them room.

use super::*;

/// Default `vault_write_share`: 240 of Key Vault's 300 writes per 10 s per vault.
pub const DEFAULT_WRITE_SHARE: f64 = 0.8;
/// Default `vault_read_share`: 2,000 of Key Vault's 4,000 other transactions per 10 s per vault.
pub const DEFAULT_READ_SHARE: f64 = 0.5;

/// Key Vault's published per-vault figures per 10 s, as `check` explains them.
const PUBLISHED_WRITES: f64 = 300.0;
const PUBLISHED_OTHERS: f64 = 4000.0;

/// The share of each vault's budget the rotator paces itself to (see `net::pacing`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaultLimits {
    /// Of Key Vault's 300 CREATE secret transactions per 10 s per vault.
    pub write_share: f64,
    /// Of Key Vault's 4,000 other secret transactions per 10 s per vault.
    pub read_share: f64,
}

impl Default for VaultLimits {
    fn default() -> Self {
        VaultLimits {
            write_share: DEFAULT_WRITE_SHARE,
            read_share: DEFAULT_READ_SHARE,
        }
    }
}

impl VaultLimits {
    /// One of `shards` processes' part. Shards split the apps by a hash of their names, so every
    /// vault's targets are spread over all shards, and each shard paces itself to `1/shards` of
    /// the share: together they stay within it, and each vault still gets all of it.
    pub fn per_shard(self, shards: u32) -> Self {
        let n = f64::from(shards.max(1));
        VaultLimits {
            write_share: self.write_share / n,
            read_share: self.read_share / n,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RawLimits {
    #[serde(default)]
    pub(super) vault_write_share: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) vault_read_share: Option<Spanned<f64>>,
}

/// Checks `[limits]`: each share in (0, 1] and large enough for one transaction per 10 s.
pub(super) fn check_limits(c: &mut Checker<'_>, raw: Option<&RawLimits>) -> VaultLimits {
    let mut out = VaultLimits::default();
    let Some(raw) = raw else { return out };
    if let Some(v) = &raw.vault_write_share
        && let Some(share) = share(c, v, "limits.vault_write_share", PUBLISHED_WRITES, "writes")
    {
        out.write_share = share;
    }
    if let Some(v) = &raw.vault_read_share
        && let Some(share) = share(
            c,
            v,
            "limits.vault_read_share",
            PUBLISHED_OTHERS,
            "other transactions",
        )
    {
        out.read_share = share;
    }
    out
}

fn share(
    c: &mut Checker<'_>,
    value: &Spanned<f64>,
    key: &str,
    published: f64,
    what: &str,
) -> Option<f64> {
    let s = *value.get_ref();
    if !(s > 0.0 && s <= 1.0) {
        c.push(
            value.span(),
            key,
            format!(
                "{s} is not a share: use a number above 0 and at most 1, the part of Key Vault's {published} {what} per 10 s per vault the rotator may use (for example 0.8 = {} per 10 s)",
                (published * 0.8).floor()
            ),
        );
        return None;
    }
    if (published * s).floor() < 1.0 {
        c.push(
            value.span(),
            key,
            format!(
                "{s} leaves less than one of Key Vault's {published} {what} per 10 s ({published} × {s} = {:.2}); use at least {:.4}",
                published * s,
                (1.0 / published * 10_000.0).ceil() / 10_000.0
            ),
        );
        return None;
    }
    Some(s)
}
