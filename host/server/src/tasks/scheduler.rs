//! The loop that starts due tasks. At every tick it asks the task store for
//! the tasks with a slot since they were last checked, so slots missed while
//! the host was down make one run at start, not one per slot.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::app::Host;
use crate::clock::now_ms;

/// Runs until the process ends.
pub async fn run(host: Arc<Host>, tick: Duration) {
    loop {
        fire_due(&host).await;
        tokio::time::sleep(tick).await;
    }
}

async fn fire_due(host: &Host) {
    let due = match host.tasks().take_due(now_ms()) {
        Ok(due) => due,
        Err(error) => {
            tracing::error!(%error, "cannot read the scheduled tasks");
            return;
        }
    };
    for task in due {
        let span = tracing::info_span!("task", id = %task.id, title = %task.title);
        if let Err(error) = host.fire_task(&task).instrument(span).await {
            tracing::error!(%error, "cannot record the task's run");
        }
    }
}
