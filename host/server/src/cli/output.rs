//! What the CLI prints: backup tables, stage summaries, dates.

use std::fmt::Write as _;

use indicatif::HumanBytes;
use serde_json::Value;

use super::progress::{Stage, job_stages};
use crate::views::overall_duration;

/// `"2025-03-01 22:00:46 UTC"` for epoch milliseconds; `"-"` for 0 or less.
pub fn utc(ms: i64) -> String {
    if ms <= 0 {
        return "-".to_owned();
    }
    drhost_api::time::utc_date(ms)
}

/// The backups of a store as a table.
pub fn backup_table(backups: &[Value]) -> String {
    if backups.is_empty() {
        return "No backups.\n".to_owned();
    }
    let text = |b: &Value, key: &str| b.get(key).and_then(Value::as_str).unwrap_or("-").to_owned();
    let number = |b: &Value, key: &str| b.get(key).and_then(Value::as_i64).unwrap_or(0);
    let rows: Vec<[String; 5]> = backups
        .iter()
        .map(|b| {
            let retention = match number(b, "retentionDate") {
                -1 => "never".to_owned(),
                date => utc(date),
            };
            let size = b
                .get("totalBytes")
                .and_then(Value::as_u64)
                .map_or("-".to_owned(), |bytes| HumanBytes(bytes).to_string());
            [
                text(b, "backupName"),
                text(b, "status"),
                utc(number(b, "startTime")),
                size,
                retention,
            ]
        })
        .collect();
    table(
        &["NAME", "STATUS", "STARTED", "SIZE", "RETAINED UNTIL"],
        &rows,
    )
}

fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// One line per stage: name, state, bytes, rate, items.
pub fn stage_lines(stages: &[Stage]) -> String {
    let width = stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for stage in stages {
        // Validation and cleanup move no data: their counters are noise.
        let counters = if stage.bytes_done == 0 && stage.items_done == 0 {
            String::new()
        } else {
            format!("  {}, {} items", stage.describe(), stage.items_done)
        };
        let line = format!("  {:<width$}  {:<9}{counters}", stage.name, stage.state);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// A finished (or running) job: headline, stages, and its message.
pub fn job_summary(job: &Value) -> String {
    let text = |key: &str| job.get(key).and_then(Value::as_str).unwrap_or("-");
    let number = |key: &str| job.get(key).and_then(Value::as_i64).unwrap_or(0);
    let mut out = format!(
        "Job {} ({}): {}",
        text("jobid"),
        text("operation"),
        text("status")
    );
    // Something was left out or not applied: say so on the first line, not
    // only in the message below it.
    if job.pointer("/result/state").and_then(Value::as_str) == Some("completed_with_warnings") {
        out.push_str(" WITH WARNINGS");
    }
    let (start, end) = (number("starttime"), number("endtime"));
    if end > 0 {
        let _ = write!(out, " in {}", overall_duration(end - start));
    }
    out.push('\n');
    out.push_str(&stage_lines(&job_stages(job)));
    if let Some(message) = job
        .pointer("/result/message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        let _ = writeln!(out, "  {message}");
    }
    out
}

/// The DR status resource.
pub fn status_summary(status: &Value) -> String {
    let text = |key: &str| status.get(key).and_then(Value::as_str).unwrap_or("-");
    if text("state") == "no_op" {
        return "No backup or restore has run yet.\n".to_owned();
    }
    let mut out = format!(
        "{} of {} (store {}): {}\n  started {}, {}\n",
        text("operation"),
        text("backupName"),
        text("backupStore"),
        text("state"),
        utc(status.get("startTime").and_then(Value::as_i64).unwrap_or(0)),
        text("overallDuration"),
    );
    let stages: Vec<Stage> = status
        .get("stages")
        .and_then(Value::as_array)
        .map(|stages| stages.iter().map(Stage::from_json).collect())
        .unwrap_or_default();
    out.push_str(&stage_lines(&stages));
    let message = text("message");
    if !message.is_empty() && message != "-" {
        let _ = writeln!(out, "  {message}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(0), "-");
        assert_eq!(utc(4_102_444_799_000), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn backup_tables_align() {
        let table = backup_table(&[
            json!({"backupName": "nightly-1", "status": "completed", "startTime": 1_635_285_646_935_i64,
                   "totalBytes": 2048, "retentionDate": -1}),
            json!({"backupName": "b", "status": "damaged"}),
        ]);
        assert_eq!(
            table,
            "NAME       STATUS     STARTED                  SIZE      RETAINED UNTIL\n\
             nightly-1  completed  2021-10-26 22:00:46 UTC  2.00 KiB  never\n\
             b          damaged    -                        -         -\n"
        );
        assert_eq!(backup_table(&[]), "No backups.\n");
    }

    #[test]
    fn summaries() {
        assert_eq!(
            status_summary(&json!({"state": "no_op", "code": 0, "messages": []})),
            "No backup or restore has run yet.\n"
        );
        let job = json!({"jobid": "j1", "operation": "Restore", "status": "FAILED",
                         "starttime": 1000, "endtime": 2500,
                         "result": {"message": "Stage X: broken", "stages": [
                             {"name": "Validation", "state": "completed", "bytesDone": 0,
                              "itemsDone": 0, "bytesTotal": 0, "etaSeconds": 0},
                             {"name": "Stage X", "state": "failed", "bytesDone": 2048,
                              "itemsDone": 2, "bytesTotal": 4096, "bytesPerSecond": 1024}]}});
        let summary = job_summary(&job);
        assert!(
            summary.starts_with("Job j1 (Restore): FAILED in 00hr:00min:01sec:500millisec\n"),
            "{summary}"
        );
        assert!(summary.contains("  Validation  completed\n"), "{summary}");
        assert!(
            summary.contains("  Stage X     failed     2.00 KiB / 4.00 KiB, 1.00 KiB/s, 2 items\n"),
            "{summary}"
        );
        assert!(summary.ends_with("  Stage X: broken\n"), "{summary}");

        let warned = json!({"jobid": "j2", "operation": "Backup", "status": "COMPLETED",
                            "result": {"state": "completed_with_warnings",
                                       "message": "1 entries left out: app.sock (a socket)"}});
        let summary = job_summary(&warned);
        assert!(
            summary.starts_with("Job j2 (Backup): COMPLETED WITH WARNINGS\n"),
            "{summary}"
        );
        assert!(
            summary.ends_with("  1 entries left out: app.sock (a socket)\n"),
            "{summary}"
        );
    }
}
