//! `status`: a read-only dry run shown as the status view (table, JSON, Markdown or HTML).

use std::path::Path;

use crate::cli::StatusFormat;
use crate::config;
use crate::cycle::{Cycle, CycleOptions};
use crate::error::{SetupError, exit};
use crate::report::status::Status;

/// The `status` command.
pub async fn run(config: &Path, output: StatusFormat) -> Result<i32, SetupError> {
    let cfg = config::load(config)?;
    let thresholds = cfg.thresholds;
    let cycle = Cycle::new(cfg)?;
    let progress = super::progress_bar();
    let options = CycleOptions {
        dry_run: true,
        progress: progress.clone(),
        ..Default::default()
    };
    let result = cycle.run(options).await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let report = result?;
    let view = Status::new(&report, &thresholds);
    super::out(&match output {
        StatusFormat::Table => view.to_table(),
        StatusFormat::Json => format!("{}\n", view.to_json()),
        StatusFormat::Markdown => view.to_markdown(),
        StatusFormat::Html => view.to_html(),
    });
    Ok(exit::OK)
}
