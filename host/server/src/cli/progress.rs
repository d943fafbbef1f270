//! The progress bar shown while a job runs, and the text of stage summaries,
//! both from the job JSON's stage entries (`bytesDone`, `bytesTotal`,
//! `bytesPerSecond`, `etaSeconds`): the host computes the rates, so the CLI
//! shows what the API reports.

use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::Value;

/// One stage entry of a job or of the DR status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    pub state: String,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub items_done: u64,
    pub bytes_per_second: Option<u64>,
    pub eta_seconds: Option<u64>,
}

impl Stage {
    pub fn from_json(stage: &Value) -> Stage {
        let number = |key: &str| stage.get(key).and_then(Value::as_u64);
        let text = |key: &str| {
            stage
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Stage {
            name: text("name"),
            state: text("state"),
            bytes_done: number("bytesDone").unwrap_or(0),
            bytes_total: number("bytesTotal"),
            items_done: number("itemsDone").unwrap_or(0),
            bytes_per_second: number("bytesPerSecond"),
            eta_seconds: number("etaSeconds"),
        }
    }

    /// The total, unless the stage has already done more: a backup's total is
    /// the previous backup's size, an estimate that growth can overtake.
    pub fn known_total(&self) -> Option<u64> {
        self.bytes_total.filter(|&total| self.bytes_done <= total)
    }

    /// The bar's text: ETA and rate first, as the bar already shows how much
    /// is done and a narrow terminal cuts the end of the line.
    pub fn bar_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(eta) = self.eta_seconds.filter(|_| self.state == "running") {
            parts.push(format!("ETA {}", short_duration(eta)));
        }
        if let Some(rate) = self.bytes_per_second {
            parts.push(format!("{}/s", HumanBytes(rate)));
        }
        let mut done = HumanBytes(self.bytes_done).to_string();
        if let Some(total) = self.known_total() {
            done.push_str(&format!(" / {}", HumanBytes(total)));
        }
        parts.push(done);
        parts.join(", ")
    }

    /// `"1.20 MiB / 4.00 MiB, 2.00 MiB/s, ETA 2s"`, leaving out what is unknown.
    pub fn describe(&self) -> String {
        let mut text = HumanBytes(self.bytes_done).to_string();
        if let Some(total) = self.known_total() {
            text.push_str(&format!(" / {}", HumanBytes(total)));
        }
        if let Some(rate) = self.bytes_per_second {
            text.push_str(&format!(", {}/s", HumanBytes(rate)));
        }
        if self.state == "running"
            && let Some(eta) = self.eta_seconds
        {
            text.push_str(&format!(", ETA {}", short_duration(eta)));
        }
        text
    }
}

/// `"45s"`, `"3m05s"`, `"2h07m"`: short enough for an 80-column bar.
pub fn short_duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds / 60 % 60),
    }
}

/// The stage entries of a `jobs/<id>` object (its `result` once finished).
pub fn job_stages(job: &Value) -> Vec<Stage> {
    let stages = job
        .pointer("/result/stages")
        .or_else(|| job.pointer("/progress/stages"))
        .and_then(Value::as_array);
    stages
        .map(|stages| stages.iter().map(Stage::from_json).collect())
        .unwrap_or_default()
}

/// The stage a running job is in: the running one, else the last that
/// started (between two stages).
pub fn current_stage(stages: &[Stage]) -> Option<&Stage> {
    stages
        .iter()
        .find(|s| s.state == "running")
        .or_else(|| stages.iter().rev().find(|s| s.state != "pending"))
}

/// A progress bar on stderr; drawn only when stderr is a terminal.
pub struct JobBar {
    bar: ProgressBar,
    /// Whether the bar currently shows a length (a stage with a known total).
    bounded: bool,
}

impl JobBar {
    pub fn new() -> JobBar {
        let bar = ProgressBar::new_spinner();
        bar.set_style(spinner_style());
        bar.enable_steady_tick(Duration::from_millis(120));
        JobBar {
            bar,
            bounded: false,
        }
    }

    /// Shows the job's current stage.
    pub fn update(&mut self, job: &Value) {
        let stages = job_stages(job);
        let Some(stage) = current_stage(&stages) else {
            return;
        };
        match stage.known_total() {
            Some(total) if total > 0 => {
                if !self.bounded {
                    self.bar.set_style(bar_style());
                    self.bounded = true;
                }
                self.bar.set_length(total);
                self.bar.set_position(stage.bytes_done.min(total));
            }
            _ => {
                if self.bounded {
                    self.bar.set_style(spinner_style());
                    self.bounded = false;
                }
            }
        }
        self.bar.set_prefix(stage.name.clone());
        self.bar.set_message(stage.bar_text());
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix} [{bar:16}] {wide_msg}")
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_what_is_known() {
        let running = Stage::from_json(&json!({
            "name": "Stage Object store", "state": "running", "bytesDone": 1_048_576,
            "bytesTotal": 4_194_304, "itemsDone": 3, "bytesPerSecond": 2_097_152,
            "etaSeconds": 2,
        }));
        assert_eq!(
            running.describe(),
            "1.00 MiB / 4.00 MiB, 2.00 MiB/s, ETA 2s"
        );
        assert_eq!(
            running.bar_text(),
            "ETA 2s, 2.00 MiB/s, 1.00 MiB / 4.00 MiB"
        );
        let unknown = Stage::from_json(&json!({
            "name": "x", "state": "running", "bytesDone": 10,
            "bytesTotal": null, "bytesPerSecond": null, "etaSeconds": null,
        }));
        assert_eq!(unknown.describe(), "10 B");
        let overtaken = Stage {
            bytes_total: Some(5),
            ..unknown
        };
        assert_eq!(overtaken.describe(), "10 B");
        let done = Stage::from_json(&json!({
            "name": "x", "state": "completed", "bytesDone": 10, "bytesTotal": 10,
            "bytesPerSecond": 5, "etaSeconds": 0,
        }));
        assert_eq!(done.describe(), "10 B / 10 B, 5 B/s");
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(0), "0s");
        assert_eq!(short_duration(59), "59s");
        assert_eq!(short_duration(185), "3m05s");
        assert_eq!(short_duration(7_620), "2h07m");
    }

    #[test]
    fn finds_the_current_stage() {
        let job = json!({"progress": {"stages": [
            {"name": "Validation", "state": "completed"},
            {"name": "Stage Object store", "state": "running"},
            {"name": "Cleanup", "state": "pending"},
        ]}});
        let stages = job_stages(&job);
        assert_eq!(
            current_stage(&stages).map(|s| s.name.as_str()),
            Some("Stage Object store")
        );
        let between = json!({"progress": {"stages": [
            {"name": "Validation", "state": "completed"},
            {"name": "Stage Object store", "state": "pending"},
        ]}});
        let stages = job_stages(&between);
        assert_eq!(
            current_stage(&stages).map(|s| s.name.as_str()),
            Some("Validation")
        );
        assert!(current_stage(&[]).is_none());
        // A finished job's stages come from its result.
        let finished = json!({"result": {"stages": [{"name": "R", "state": "completed"}]},
                              "progress": {"stages": []}});
        assert_eq!(job_stages(&finished)[0].name, "R");
    }
}
