//! `akv-rotator check --online`: a read-only preflight against Key Vault and Entra ID. It proves
//! what it can without writing anything — the rotator's identity authenticates, each vault can
//! be listed, each client secret can be read, each token can be acquired and validated, and
//! (inferred from a probe that changes nothing) each token secret can be written — and says what
//! it could not verify.

use serde::Serialize;
use time::OffsetDateTime;

use crate::azure::vault::WriteProbe;
use crate::cli::OutputFormat;
use crate::cycle::Cycle;
use crate::error::ErrorClass;
use crate::error::SetupError;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Pass,
    /// Works, but not as the recommended setup (for example listing refused).
    Warn,
    Fail,
    /// Could not be verified read-only.
    Unverified,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub subject: String,
    pub result: CheckResult,
    pub detail: String,
}

/// Refuses a schedule whose runs can be further apart than `refresh_before` (tokens would expire
/// between runs), pointing at the `schedule` line of the file.
fn refuse_slow_schedule(
    config: &crate::config::ValidConfig,
    path: &Path,
) -> Result<(), SetupError> {
    let Some(mut issue) = crate::config::schedule_too_slow(config, OffsetDateTime::now_utc())
    else {
        return Ok(());
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let line_of = |key: &str| {
        text.lines().position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };
    let line = line_of("schedule").or_else(|| line_of("refresh_before"));
    issue.line = line.map_or(1, |l| l + 1);
    issue.column = 1;
    Err(crate::config::ConfigError::Invalid {
        path: path.to_path_buf(),
        issues: vec![issue],
    }
    .into())
}

/// The `check` command: the config offline; with `online`, the preflight against Entra ID and
/// Key Vault. Exit code 0 pass, 1 a check failed, 2 the config is invalid or the rotator could
/// not start.
pub async fn run(path: &Path, online: bool, output: OutputFormat) -> Result<i32, SetupError> {
    let config = crate::config::load(path)?;
    refuse_slow_schedule(&config, path)?;
    if !online {
        let targets: usize = config.apps.iter().map(|a| a.targets.len()).sum();
        match output {
            OutputFormat::Json => super::out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&serde_json::json!({
                    "config": path.display().to_string(),
                    "valid": true,
                    "apps": config.apps.len(),
                    "targets": targets,
                    "vaults": config.vaults().len(),
                    "cloud": config.cloud.name.to_string(),
                    "schedule": config.daemon.schedule_text,
                    "time_zone": config.daemon.schedule.zone().to_string(),
                }))
                .unwrap_or_default()
            )),
            OutputFormat::Table => super::out(&format!(
                "{}: valid ({} apps, {} targets, {} vaults, cloud {}, schedule {:?} in {})\n",
                path.display(),
                config.apps.len(),
                targets,
                config.vaults().len(),
                config.cloud.name,
                config.daemon.schedule_text,
                config.daemon.schedule.zone()
            )),
        }
        return Ok(crate::exit::OK);
    }
    let rotator = Cycle::new(config)?;
    // On a terminal, a spinner with the elapsed time while Entra ID and Key Vault answer.
    let spinner = super::progress_bar().inspect(|bar| {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} checking {elapsed} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("{} apps", rotator.config().apps.len()));
    });
    let checks = checks(&rotator).await;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "checks": checks }))
                .unwrap_or_default()
        ),
        OutputFormat::Table => print!("{}", table(&checks)),
    }
    Ok(
        if checks
            .iter()
            .any(|c| c.check == "identity" && c.result == CheckResult::Fail)
        {
            crate::exit::SETUP
        } else if checks.iter().any(|c| c.result == CheckResult::Fail) {
            crate::exit::FAILED
        } else {
            crate::exit::OK
        },
    )
}

/// All checks, in order.
pub async fn checks(rotator: &Cycle) -> Vec<Check> {
    let config = rotator.config();
    let vaults = rotator.vaults();
    let mut out = Vec::new();
    let mut identity_ok = true;
    for vault in config.vaults() {
        match vaults.list(&vault).await {
            Ok(items) => out.push(Check {
                check: "list",
                subject: vault.to_string(),
                result: CheckResult::Pass,
                detail: format!("{} secrets listed", items.len()),
            }),
            Err(e) if e.class == ErrorClass::RotatorCredential => {
                identity_ok = false;
                out.push(Check {
                    check: "identity",
                    subject: vault.to_string(),
                    result: CheckResult::Fail,
                    detail: e.message,
                });
            }
            Err(e) if e.class == ErrorClass::PermissionDenied => out.push(Check {
                check: "list",
                subject: vault.to_string(),
                result: CheckResult::Warn,
                detail: format!(
                    "listing refused (secret-scoped role assignments?): cycles fall back to one read per secret, which costs more transactions. {}",
                    e.message
                ),
            }),
            Err(e) => out.push(Check {
                check: "list",
                subject: vault.to_string(),
                result: CheckResult::Fail,
                detail: e.to_string(),
            }),
        }
    }
    if !identity_ok {
        return out;
    }
    for app in &config.apps {
        let secret = match vaults
            .read(&app.client_secret_vault, &app.client_secret_name)
            .await
        {
            Ok(s) => {
                out.push(Check {
                    check: "read client secret",
                    subject: format!("{} ({})", app.name, app.client_secret_name),
                    result: CheckResult::Pass,
                    detail: format!(
                        "readable; expires {}",
                        s.meta
                            .expires
                            .map(crate::timefmt::rfc3339)
                            .unwrap_or_else(|| "never (no exp recorded)".into())
                    ),
                });
                Some(s)
            }
            Err(e) => {
                out.push(Check {
                    check: "read client secret",
                    subject: format!("{} ({})", app.name, app.client_secret_name),
                    result: CheckResult::Fail,
                    detail: e.to_string(),
                });
                None
            }
        };
        for target in &app.targets {
            let subject = format!("{} → {}", app.name, target.secret_name);
            match &secret {
                Some(s) => match rotator
                    .acquire_validated(app, target, s, OffsetDateTime::now_utc())
                    .await
                {
                    Ok(token) => out.push(Check {
                        check: "acquire + validate token",
                        subject: subject.clone(),
                        result: CheckResult::Pass,
                        detail: format!(
                            "token for {} valid until {} (signature {})",
                            target.resource,
                            crate::timefmt::rfc3339(token.expires_at()),
                            match token.signature() {
                                crate::token::SignatureCheck::Verified { .. } => "verified",
                                crate::token::SignatureCheck::NotVerifiable { .. } =>
                                    "not verifiable (Graph)",
                            }
                        ),
                    }),
                    Err(e) => out.push(Check {
                        check: "acquire + validate token",
                        subject: subject.clone(),
                        result: CheckResult::Fail,
                        detail: e.to_string(),
                    }),
                },
                None => out.push(Check {
                    check: "acquire + validate token",
                    subject: subject.clone(),
                    result: CheckResult::Unverified,
                    detail: "skipped: the client secret could not be read".into(),
                }),
            }
            let write = match vaults.probe_write(&target.vault, &target.secret_name).await {
                WriteProbe::Allowed => Check {
                    check: "write token secret",
                    subject,
                    result: CheckResult::Pass,
                    detail: format!(
                        "write permitted in {} (inferred from an authorization probe that changes nothing)",
                        target.vault
                    ),
                },
                WriteProbe::Denied(e) => Check {
                    check: "write token secret",
                    subject,
                    result: CheckResult::Fail,
                    detail: e.to_string(),
                },
                WriteProbe::Unknown(e) => Check {
                    check: "write token secret",
                    subject,
                    result: CheckResult::Unverified,
                    detail: format!("could not be verified without writing: {}", e.message),
                },
            };
            out.push(write);
        }
    }
    out
}

fn table(checks: &[Check]) -> String {
    use std::fmt::Write as _;
    let w1 = checks
        .iter()
        .map(|c| c.check.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let w2 = checks
        .iter()
        .map(|c| c.subject.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = format!(
        "  {:<w1$}  {:<w2$}  {:<10}  DETAIL\n",
        "CHECK", "SUBJECT", "RESULT"
    );
    for c in checks {
        let r = match c.result {
            CheckResult::Pass => "pass",
            CheckResult::Warn => "warn",
            CheckResult::Fail => "FAIL",
            CheckResult::Unverified => "unverified",
        };
        let pad = w2 - c.subject.chars().count();
        let _ = writeln!(
            out,
            "  {:<w1$}  {}{}  {:<10}  {}",
            c.check,
            c.subject,
            " ".repeat(pad),
            r,
            c.detail
        );
    }
    let failed = checks
        .iter()
        .filter(|c| c.result == CheckResult::Fail)
        .count();
    let _ = writeln!(out, "\n{} checks: {} failed", checks.len(), failed);
    out
}
