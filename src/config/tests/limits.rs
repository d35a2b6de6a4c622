//! `[limits]`: shares of Key Vault's per-vault budget.

use super::*;

fn with_limits(table: &str) -> String {
    good().replace(
        "[credential]",
        &format!("[limits]\n{table}\n\n[credential]"),
    )
}

#[test]
fn shares_default_to_most_writes_and_half_the_other_transactions() {
    let cfg = parse(Path::new("rotator.toml"), &good()).expect("valid");
    assert_eq!(cfg.limits, VaultLimits::default());
    assert_eq!(cfg.limits.write_share, 0.8);
    assert_eq!(cfg.limits.read_share, 0.5);
    let text = with_limits("vault_write_share = 1\nvault_read_share = 0.25");
    let cfg = parse(Path::new("rotator.toml"), &text).expect("valid");
    assert_eq!(cfg.limits.write_share, 1.0);
    assert_eq!(cfg.limits.read_share, 0.25);
}

#[test]
fn a_share_outside_zero_to_one_or_below_one_transaction_is_refused_with_the_arithmetic() {
    for (table, key, says) in [
        (
            "vault_write_share = 0",
            "limits.vault_write_share",
            "above 0 and at most 1",
        ),
        (
            "vault_write_share = 1.5",
            "limits.vault_write_share",
            "300 writes per 10 s",
        ),
        (
            "vault_write_share = -0.2",
            "limits.vault_write_share",
            "for example 0.8 = 240 per 10 s",
        ),
        (
            "vault_read_share = 2",
            "limits.vault_read_share",
            "4000 other transactions per 10 s",
        ),
        (
            "vault_write_share = 0.002",
            "limits.vault_write_share",
            "300 × 0.002 = 0.60); use at least 0.0034",
        ),
        (
            "vault_read_share = 0.0001",
            "limits.vault_read_share",
            "use at least 0.0003",
        ),
    ] {
        let found = issues(&with_limits(table));
        assert_eq!(found.len(), 1, "{table}: {found:?}");
        assert_eq!(found[0].key.as_deref(), Some(key), "{table}");
        assert_eq!(found[0].line, 6, "{table}");
        assert!(
            found[0].message.contains(says),
            "{table}: {}",
            found[0].message
        );
    }
    let found = issues(&with_limits("vault_write_shares = 0.5"));
    assert!(
        found[0]
            .message
            .contains("did you mean `vault_write_share`"),
        "{found:?}"
    );
}

#[test]
fn what_a_daemon_keeps_between_cycles_defaults_to_ten_minutes_and_an_hour_and_is_bounded() {
    let cfg = parse(Path::new("rotator.toml"), &good()).expect("valid");
    assert_eq!(cfg.daemon.relist_after, Duration::from_secs(600));
    assert_eq!(cfg.daemon.client_secret_max_age, Duration::from_secs(3600));
    let text = format!(
        "{}\n[daemon]\nrelist_after = \"2d\"\nclient_secret_max_age = \"8d\"\n",
        good()
    );
    let found = issues(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].key.as_deref(), Some("daemon.relist_after"));
    assert!(found[0].message.contains("at most 1day"), "{found:?}");
    assert_eq!(
        found[1].key.as_deref(),
        Some("daemon.client_secret_max_age")
    );
    assert!(found[1].message.contains("at most 7days"), "{found:?}");
}

#[test]
fn shards_divide_the_shares_so_that_together_they_keep_to_them() {
    let limits = VaultLimits::default().per_shard(4);
    assert_eq!(limits.write_share, 0.2);
    assert_eq!(limits.read_share, 0.125);
    assert_eq!(VaultLimits::default().per_shard(1), VaultLimits::default());
}
