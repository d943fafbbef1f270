//! A JSON value as readable HTML: objects as two-column tables, lists of
//! objects as tables with a column per key (stores, backups, stages), lists
//! of scalars as lists. Everything is escaped; deep nesting falls back to
//! pretty JSON so a hostile value cannot make the page explode. Epoch
//! millisecond times (`startTime`, `lastUpdated`, ...) also show as UTC dates.

use serde_json::{Map, Value};

use crate::escape::escape;

/// Nesting below which values are shown as pretty JSON instead of tables.
const MAX_DEPTH: usize = 4;

/// Most columns a list-of-objects table gets before it falls back to one
/// nested table per item.
const MAX_COLUMNS: usize = 12;

/// The HTML of `value`.
pub(crate) fn render(value: &Value) -> String {
    let mut out = String::new();
    render_into(&mut out, value, 0);
    out
}

/// Keys (lower case) whose numbers are epoch milliseconds.
const TIME_KEYS: &[&str] = &[
    "starttime",
    "endtime",
    "updatedtime",
    "completetime",
    "lastupdated",
    "when",
    "created",
    "retentiondate",
    "expires",
];

/// Renders `value`, the value of `key` in its object.
fn render_keyed(out: &mut String, key: &str, value: &Value, depth: usize) {
    let millis = value.as_i64().filter(|ms| *ms > 0);
    match millis {
        Some(ms) if TIME_KEYS.contains(&key.to_ascii_lowercase().as_str()) => {
            out.push_str(&format!(
                "{ms} <small>({})</small>",
                crate::time::utc_date(ms)
            ));
        }
        _ => render_into(out, value, depth),
    }
}

fn render_into(out: &mut String, value: &Value, depth: usize) {
    if depth >= MAX_DEPTH && (value.is_object() || value.is_array()) {
        let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
        out.push_str(&format!("<pre>{}</pre>", escape(&pretty)));
        return;
    }
    match value {
        Value::Null => out.push_str("<span class=\"null\">none</span>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) if s.is_empty() => out.push_str("<span class=\"null\">(empty)</span>"),
        Value::String(s) => out.push_str(&escape(s)),
        Value::Array(items) => render_array(out, items, depth),
        Value::Object(map) => render_object(out, map, depth),
    }
}

fn render_object(out: &mut String, map: &Map<String, Value>, depth: usize) {
    if map.is_empty() {
        out.push_str("<span class=\"null\">{}</span>");
        return;
    }
    out.push_str("<table class=\"fields\">\n");
    for (key, value) in map {
        out.push_str(&format!("<tr><th>{}</th><td>", escape(key)));
        render_keyed(out, key, value, depth + 1);
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
}

fn render_array(out: &mut String, items: &[Value], depth: usize) {
    if items.is_empty() {
        out.push_str("<span class=\"null\">(none)</span>");
        return;
    }
    if let Some(columns) = table_columns(items) {
        out.push_str("<table class=\"list\">\n<tr>");
        for column in &columns {
            out.push_str(&format!("<th>{}</th>", escape(column)));
        }
        out.push_str("</tr>\n");
        for item in items {
            out.push_str("<tr>");
            for column in &columns {
                out.push_str("<td>");
                if let Some(cell) = item.get(column.as_str()) {
                    render_keyed(out, column, cell, depth + 1);
                }
                out.push_str("</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        return;
    }
    out.push_str("<ul>\n");
    for item in items {
        out.push_str("<li>");
        render_into(out, item, depth + 1);
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n");
}

/// The union of the keys, in first-seen order but names first, when every
/// item is an object and there are not too many keys.
fn table_columns(items: &[Value]) -> Option<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    for item in items {
        for key in item.as_object()?.keys() {
            if !columns.iter().any(|c| c == key) {
                columns.push(key.clone());
                if columns.len() > MAX_COLUMNS {
                    return None;
                }
            }
        }
    }
    // Names identify the rows: put them first.
    columns.sort_by_key(|column| !matches!(column.as_str(), "name" | "backupName"));
    Some(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_lists_and_scalars() {
        let html = render(&json!({
            "name": "a<b",
            "stages": [{"name": "s1", "state": "completed"}, {"name": "s2", "extra": 1}],
            "messages": ["x", "y"],
            "empty": [],
            "nothing": null,
        }));
        assert!(
            html.contains("<tr><th>name</th><td>a&lt;b</td></tr>"),
            "{html}"
        );
        assert!(
            html.contains("<th>name</th><th>state</th><th>extra</th>"),
            "{html}"
        );
        assert!(html.contains("<td>s2</td><td></td><td>1</td>"), "{html}");
        assert!(html.contains("<li>x</li>"), "{html}");
        assert!(html.contains("(none)"), "{html}");
    }

    #[test]
    fn times_show_as_utc_dates_and_names_come_first() {
        let html = render(&json!({
            "startTime": 1_635_945_710_988_i64,
            "completeTime": 0,
            "stages": [{"state": "done", "lastUpdated": 1_635_945_710_988_i64, "name": "s"}],
        }));
        assert!(
            html.contains("1635945710988 <small>(2021-11-03 13:21:50 UTC)</small>"),
            "{html}"
        );
        assert!(html.contains("<th>completeTime</th><td>0</td>"), "{html}");
        assert!(
            html.contains("<th>name</th><th>lastUpdated</th><th>state</th>"),
            "{html}"
        );
    }

    #[test]
    fn deep_values_fall_back_to_pretty_json() {
        let deep = json!({"a": {"b": {"c": {"d": {"e": "<f>"}}}}});
        let html = render(&deep);
        assert!(html.contains("<pre>"), "{html}");
        assert!(html.contains("&lt;f&gt;"), "{html}");
        assert!(!html.contains("<f>"), "{html}");
    }
}
