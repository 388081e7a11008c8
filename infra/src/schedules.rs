//! Scheduled functions, run as EventBridge runs them in AWS: the expiry sweep every period its
//! template schedule names.

use anyhow::Context as _;

use crate::template::Template;

/// Runs each scheduled function as EventBridge Scheduler does: every period of its template
/// schedule, with its own dependencies, each run traced and its metrics written. A failed run
/// is logged; the next one retries what it left (the sweep never drops an order).
pub fn start(
    template: &Template,
    deps_of: impl Fn(&str) -> Option<&'static keel::Deps>,
) -> anyhow::Result<()> {
    for function in template.functions.iter().filter(|f| f.schedule.is_some()) {
        let binary = function.binary.as_deref().unwrap_or_default();
        anyhow::ensure!(
            binary == keel_functions::payments::EXPIRE,
            "{}: keel-local has no runner for the scheduled binary {binary:?}",
            function.logical_id
        );
        let deps = deps_of(&function.logical_id)
            .with_context(|| format!("{} has no dependencies", function.logical_id))?;
        let period = function.schedule.unwrap_or_default();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let trace = keel::telemetry::xray::new_trace_header();
                let (result, outcome) =
                    keel::telemetry::scoped(keel_functions::payments::expire_due(deps)).await;
                keel::telemetry::flush_metrics(keel_functions::payments::EXPIRE, Some(&trace), &outcome);
                if let Err(error) = result {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "the scheduled expiry sweep failed; the next run retries"
                    );
                }
            }
        });
    }
    Ok(())
}
