//! Prints the HTML status page of the fixed report in tests/status/fixture.rs, for looking at
//! it in a browser without a vault (`.ci/browser-check` renders it in headless Chromium):
//!
//! ```sh
//! cargo run --example status_page > target/status-sample.html
//! ```

#[path = "../tests/status/fixture.rs"]
mod fixture;

use akv_rotator::report::status::Status;

fn main() {
    let (report, updated) = fixture::report();
    let view = Status::with_memory(
        &report,
        &fixture::config().thresholds,
        &updated,
        &fixture::memory(),
    );
    print!("{}", view.to_html());
}
