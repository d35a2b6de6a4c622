//! `status`: a read-only dry run shown as the status view (table, JSON, Markdown or HTML), with
//! the status records of the last real cycles (read, never written): what failed then is shown
//! failing, and a record older than the schedule allows is called stale.

use std::path::Path;

use crate::cli::StatusFormat;
use crate::config;
use crate::cycle::{Cycle, CycleOptions};
use crate::error::{SetupError, exit};
use crate::report::status::{Memory, Status, TokenUpdated};

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
    let memory = read_memory(&cycle).await;
    let view = Status::with_memory(&report, &thresholds, &TokenUpdated::new(), &memory);
    super::out(&match output {
        StatusFormat::Table => view.to_table(),
        StatusFormat::Json => format!("{}\n", view.to_json()),
        StatusFormat::Markdown => view.to_markdown(),
        StatusFormat::Html => view.to_html(),
    });
    Ok(exit::OK)
}

/// Every shard's status record, as far as it can be read.
pub async fn read_memory(cycle: &Cycle) -> Memory {
    let mut memory = Memory::default();
    for place in cycle.status_record_places() {
        match cycle.load_status_record(&place).await {
            Ok(Some(r)) => memory.records.push(r),
            Ok(None) => memory.missing += 1,
            Err(e) => memory.unreadable.push(format!(
                "secret {:?} in {}: {}: {}",
                place.name, place.vault, e.class, e.message
            )),
        }
    }
    memory
}
