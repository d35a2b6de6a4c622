//! The rotator's TOML configuration: the file model, its validation, and the validated form
//! ([`ValidConfig`]) that the rest of the code takes.
//!
//! Loading is two steps: deserialize into the raw model (unknown keys, syntax errors and missing
//! fields are caught here, with the line and key from the TOML parser), then [`RawConfig::validate`]
//! checks every value (URLs, clouds, durations, names, GUIDs) and reports *all* problems at once,
//! each with the file, line, column and dotted key. Nothing else in the crate reads the raw model.
//!
//! This module never holds a secret value: the rotator's own client secret is referenced by a
//! file path, and apps' client secrets by Key Vault secret names.

pub mod alerts;
mod apps;
mod cadence;
mod check;
mod cloud;
pub mod expiry;
mod limits;
mod model;
mod raw;
mod schedule;
mod segments;
#[cfg(test)]
mod tests;
mod unknown;
mod writes;

use apps::*;
pub use cadence::{longest_gap, schedule_too_slow};
use check::*;
pub use check::{is_guid, is_secret_name};
pub use cloud::{Cloud, CloudName};
use cloud::{check_cloud, graph_endpoints};
pub use limits::{DEFAULT_READ_SHARE, DEFAULT_WRITE_SHARE, VaultLimits};
use limits::{RawLimits, check_limits};
pub use model::*;
pub use raw::RawConfig;
use raw::*;
use schedule::*;
pub use schedule::{CronSchedule, parse_cron, parse_time_zone};
pub use unknown::did_you_mean;
use writes::*;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use toml::Spanned;
use url::Url;

/// A configuration problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub line: usize,
    pub column: usize,
    /// Dotted key such as `apps[1].targets[0].refresh_before`, when known.
    pub key: Option<String>,
    pub message: String,
}

/// Why a configuration could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_issues(path, issues))]
    Invalid {
        path: PathBuf,
        issues: Vec<ConfigIssue>,
    },
}

impl crate::error::SetupProblem for ConfigError {
    fn setup_kind(&self) -> crate::error::SetupKind {
        crate::error::SetupKind::Config
    }
}

fn render_issues(path: &Path, issues: &[ConfigIssue]) -> String {
    let mut out = format!(
        "invalid config file {} ({} problem{}):",
        path.display(),
        issues.len(),
        if issues.len() == 1 { "" } else { "s" }
    );
    for issue in issues {
        out.push_str(&format!(
            "\n  {}:{}:{}: ",
            path.display(),
            issue.line,
            issue.column
        ));
        if let Some(key) = &issue.key {
            out.push_str(&format!("key `{key}`: "));
        }
        out.push_str(&issue.message);
    }
    out
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<ValidConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates config text; `path` is only used in messages and to resolve relative
/// file paths.
pub fn parse(path: &Path, text: &str) -> Result<ValidConfig, ConfigError> {
    let (raw, unknown) = unknown::deserialize(text).map_err(|(e, unknown)| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        let mut issues = vec![ConfigIssue {
            line,
            column,
            key: None,
            // The parser names no key for syntax errors: show the line itself.
            message: format!(
                "{}\n      | {}",
                e.message().trim(),
                text.lines().nth(line - 1).unwrap_or("").trim_end()
            ),
        }];
        issues.extend(unknown);
        issues.sort_by_key(|i| (i.line, i.column));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        }
    })?;
    // Unknown keys and the value checks are reported together, in file order.
    match (raw.validate(path, text), unknown.is_empty()) {
        (Ok(config), true) => Ok(config),
        (Ok(_), false) => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            issues: unknown,
        }),
        (Err(ConfigError::Invalid { path, mut issues }), _) => {
            issues.extend(unknown);
            issues.sort_by_key(|i| (i.line, i.column));
            Err(ConfigError::Invalid { path, issues })
        }
        (Err(e), _) => Err(e),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, column)
}
