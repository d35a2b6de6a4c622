//! Shards of the apps for Kubernetes Indexed Jobs: apps are assigned by a stable hash of their
//! name, so every app lands in exactly one shard and stays there across runs and releases.

use crate::error::{SetupError, SetupKind};

/// One shard of the apps, for Kubernetes Indexed Jobs: apps are assigned by a stable hash of
/// their name, so every app lands in exactly one shard and stays there across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `INDEX/COUNT`.
    pub fn parse(text: &str) -> Result<Shard, SetupError> {
        let (i, c) = text
            .split_once('/')
            .ok_or_else(|| invalid(format!("shard {text:?} must be INDEX/COUNT, like 0/4")))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| invalid(format!("shard index {i:?} is not a number")))?;
        let count: u32 = c
            .trim()
            .parse()
            .map_err(|_| invalid(format!("shard count {c:?} is not a number")))?;
        Shard::new(index, count)
    }

    /// The name of a secret each shard keeps its own copy of (the alert state, the status
    /// record), so that shards never overwrite each other's: `<base>-shard-INDEX-of-COUNT`.
    pub fn secret_name(base: &str, shard: Option<Shard>) -> String {
        match shard {
            Some(s) => format!("{base}-shard-{}-of-{}", s.index, s.count),
            None => base.to_string(),
        }
    }

    pub fn new(index: u32, count: u32) -> Result<Shard, SetupError> {
        if count == 0 || index >= count {
            return Err(invalid(format!(
                "shard index {index} is not within 0..{count}"
            )));
        }
        Ok(Shard { index, count })
    }

    /// This process's shard: `--shard INDEX/COUNT`, or a count (`--shard-count`, `[shard] count`)
    /// with the index from `JOB_COMPLETION_INDEX` (set by Kubernetes Indexed Jobs).
    pub fn select(
        explicit: Option<&str>,
        count: Option<u32>,
        job_completion_index: Option<&str>,
    ) -> Result<Option<Shard>, SetupError> {
        if let Some(text) = explicit {
            return Shard::parse(text).map(Some);
        }
        let Some(count) = count else {
            return Ok(None);
        };
        let index = job_completion_index.ok_or_else(|| {
            invalid(format!(
                "sharding into {count} needs JOB_COMPLETION_INDEX (set by Kubernetes Indexed Jobs) or --shard INDEX/COUNT"
            ))
        })?;
        let index: u32 = index
            .trim()
            .parse()
            .map_err(|_| invalid(format!("JOB_COMPLETION_INDEX {index:?} is not a number")))?;
        Shard::new(index, count).map(Some)
    }

    /// Whether an app belongs to this shard.
    pub fn owns(&self, app_name: &str) -> bool {
        (stable_hash(app_name) % u64::from(self.count)) as u32 == self.index
    }
}

fn invalid(message: String) -> SetupError {
    SetupError::new(SetupKind::Shard, message)
}

/// FNV-1a: stable across processes, platforms and releases (unlike `DefaultHasher`).
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_hash_is_fixed_across_runs_and_releases() {
        // FNV-1a 64 reference values: if these change, apps move between shards on upgrade.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            stable_hash("sales-reporting"),
            stable_hash("sales-reporting")
        );
    }

    #[test]
    fn every_app_lands_in_exactly_one_shard() {
        for count in [1u32, 2, 3, 7, 16] {
            for i in 0..500 {
                let name = format!("app-{i}");
                let owners = (0..count)
                    .filter(|&index| Shard::new(index, count).expect("shard").owns(&name))
                    .count();
                assert_eq!(owners, 1, "{name} in {count} shards");
            }
        }
        // And the split is reasonably even.
        let in_first = (0..1000)
            .filter(|i| Shard { index: 0, count: 4 }.owns(&format!("app-{i}")))
            .count();
        assert!((150..350).contains(&in_first), "{in_first}");
    }

    #[test]
    fn shard_arguments_are_checked() {
        assert_eq!(Shard::parse("2/8"), Ok(Shard { index: 2, count: 8 }));
        assert!(Shard::parse("8/8").is_err());
        assert!(Shard::parse("1").is_err());
        assert!(Shard::parse("a/2").is_err());
        assert!(Shard::new(0, 0).is_err());
    }
}
