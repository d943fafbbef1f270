//! The five Quartz-style CRON fields of `createTask` (minute, hour,
//! day of month, month, day of week; UTC), and the next minute they match.
//!
//! Supported: `*`, `?`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` and
//! `a-b/n`, month names `JAN`-`DEC`, day names `SUN`-`SAT`. Days of week are
//! Quartz's 1 (Sunday) to 7 (Saturday). `L`, `W` and `#` are refused with a
//! clear message rather than half-supported.

use std::collections::BTreeSet;

/// A parsed schedule; each set holds the values its field matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days: BTreeSet<u32>,
    months: BTreeSet<u32>,
    /// 0 = Sunday .. 6 = Saturday.
    weekdays: BTreeSet<u32>,
    /// Both day fields restricted: either may match (cron's rule).
    days_or_weekdays: bool,
}

/// The five fields as the API receives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronFields {
    pub minute: String,
    pub hour: String,
    pub day_of_month: String,
    pub month: String,
    pub day_of_week: String,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    pub fn parse(fields: &CronFields) -> Result<Self, String> {
        let minutes = field("minute", &fields.minute, 0, 59, &[])?;
        let hours = field("hour", &fields.hour, 0, 23, &[])?;
        let days = field("dayOfMonth", &fields.day_of_month, 1, 31, &[])?;
        let months = field("month", &fields.month, 1, 12, &MONTHS)?;
        let quartz_days = field("dayOfWeek", &fields.day_of_week, 1, 7, &DAYS)?;
        let weekdays = quartz_days.iter().map(|d| d - 1).collect();
        let restricted = |text: &str| !matches!(text.trim(), "*" | "?");
        Ok(Self {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_or_weekdays: restricted(&fields.day_of_month) && restricted(&fields.day_of_week),
        })
    }

    /// The first matching minute strictly after `after_ms` (epoch ms), as
    /// epoch ms; `None` if nothing matches within five years (e.g. 31 Feb).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let mut minute = after_ms.div_euclid(60_000) + 1;
        let limit = minute + 5 * 366 * 24 * 60;
        while minute < limit {
            let (days_since_epoch, minute_of_day) =
                (minute.div_euclid(1440), minute.rem_euclid(1440) as u32);
            let (_, month, day) = civil_from_days(days_since_epoch);
            let weekday = (days_since_epoch + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
            let day_ok = if self.days_or_weekdays {
                self.days.contains(&day) || self.weekdays.contains(&weekday)
            } else {
                self.days.contains(&day) && self.weekdays.contains(&weekday)
            };
            if !self.months.contains(&month) || !day_ok {
                minute = (days_since_epoch + 1) * 1440;
                continue;
            }
            let (hour, min) = (minute_of_day / 60, minute_of_day % 60);
            if !self.hours.contains(&hour) {
                minute = days_since_epoch * 1440 + (i64::from(hour) + 1) * 60;
                continue;
            }
            if self.minutes.contains(&min) {
                return Some(minute * 60_000);
            }
            minute += 1;
        }
        None
    }

    /// Quartz's 6-field expression (seconds first), as task views show it.
    pub fn quartz_expression(fields: &CronFields) -> String {
        format!(
            "0 {} {} {} {} {}",
            fields.minute.trim(),
            fields.hour.trim(),
            fields.day_of_month.trim(),
            fields.month.trim(),
            fields.day_of_week.trim()
        )
    }
}

fn field(
    name: &str,
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
) -> Result<BTreeSet<u32>, String> {
    let text = text.trim();
    let bad = |why: &str| format!("{name} {text:?}: {why}");
    if text.is_empty() {
        return Err(bad("is required"));
    }
    if text.contains(['L', 'W', '#']) && names.iter().all(|n| !text.to_uppercase().contains(n)) {
        return Err(bad("L, W and # are not supported by this host"));
    }
    let value = |part: &str| -> Result<u32, String> {
        let upper = part.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(min + i as u32);
        }
        part.parse::<u32>()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| bad(&format!("{part:?} is not a value from {min} to {max}")))
    };
    let mut set = BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step = step
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad(&format!("step {step:?} must be a positive number")))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" | "?" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(range)?, max),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        if low > high {
            return Err(bad(&format!("range {range:?} runs backwards")));
        }
        set.extend((low..=high).step_by(step as usize));
    }
    Ok(set)
}

pub use drhost_api::time::civil_from_days;

/// `YYYY-MM-DD-HH-MM-SS` (UTC) of epoch ms: the suffix of scheduled backups.
pub fn name_suffix(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}-{:02}-{:02}-{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(m: &str, h: &str, dom: &str, mon: &str, dow: &str) -> Result<Cron, String> {
        Cron::parse(&CronFields {
            minute: m.into(),
            hour: h.into(),
            day_of_month: dom.into(),
            month: mon.into(),
            day_of_week: dow.into(),
        })
    }

    // 2026-11-23 (a Monday) 12:00:00 UTC.
    const MONDAY_NOON: i64 = 1_795_435_200_000;

    #[test]
    fn next_fire_times() {
        assert_eq!(name_suffix(MONDAY_NOON), "2026-11-23-12-00-00");
        let every_minute = cron("*", "*", "*", "*", "?").expect("parse");
        assert_eq!(
            every_minute.next_after(MONDAY_NOON),
            Some(MONDAY_NOON + 60_000)
        );
        assert_eq!(
            every_minute.next_after(MONDAY_NOON + 1),
            Some(MONDAY_NOON + 60_000)
        );
        let daily_4am = cron("0", "4", "*", "*", "?").expect("parse");
        let next = daily_4am.next_after(MONDAY_NOON).expect("next");
        assert_eq!(name_suffix(next), "2026-11-24-04-00-00");
        // Quartz day 7 = Saturday.
        let saturdays = cron("30", "22", "?", "*", "7").expect("parse");
        assert_eq!(
            name_suffix(saturdays.next_after(MONDAY_NOON).expect("next")),
            "2026-11-28-22-30-00"
        );
        let named = cron("0", "0", "?", "JAN", "MON").expect("parse");
        assert_eq!(
            name_suffix(named.next_after(MONDAY_NOON).expect("next")),
            "2027-01-04-00-00-00"
        );
        let every_15 = cron("*/15", "9-17/4", "*", "*", "?").expect("parse");
        assert_eq!(
            name_suffix(every_15.next_after(MONDAY_NOON).expect("next")),
            "2026-11-23-13-00-00"
        );
        assert_eq!(
            cron("0", "0", "31", "2", "?")
                .expect("parse")
                .next_after(MONDAY_NOON),
            None
        );
    }

    #[test]
    fn bad_fields_are_named() {
        for (fields, name) in [
            (("60", "*", "*", "*", "?"), "minute"),
            (("*", "24", "*", "*", "?"), "hour"),
            (("*", "*", "L", "*", "?"), "dayOfMonth"),
            (("*", "*", "?", "*", "2#1"), "dayOfWeek"),
            (("*/0", "*", "*", "*", "?"), "minute"),
            (("5-1", "*", "*", "*", "?"), "minute"),
            (("", "*", "*", "*", "?"), "minute"),
        ] {
            let error = cron(fields.0, fields.1, fields.2, fields.3, fields.4).expect_err("bad");
            assert!(error.starts_with(name), "{error}");
        }
    }
}
