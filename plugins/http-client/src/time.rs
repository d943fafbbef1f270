//! The timestamp forms the services use: S3's `x-amz-date`
//! (`20130524T000000Z`, what its requests are signed with), the HTTP date
//! (`Fri, 24 May 2013 00:00:00 GMT`, Azure's `x-ms-date`) and ISO 8601 in
//! listings and SAS tokens (`2009-10-12T17:50:30.000Z`). Civil-date
//! arithmetic after Howard Hinnant's `days_from_civil`, so no date crate.

const SECS_PER_DAY: i64 = 86_400;

/// `x-amz-date` of `unix_seconds` (UTC).
pub fn amz_date(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(SECS_PER_DAY);
    let secs = unix_seconds.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The HTTP date (RFC 9110's IMF-fixdate) of `unix_seconds`.
pub fn http_date(unix_seconds: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_seconds.div_euclid(SECS_PER_DAY);
    let secs = unix_seconds.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    let month = MONTHS[(m - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y:04} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// ISO 8601 `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as (seconds since the
/// epoch, nanoseconds); `None` if it is not that shape.
pub fn parse_iso8601(s: &str) -> Option<(i64, u32)> {
    let s = s.trim();
    let (date, rest) = s.split_once('T')?;
    let mut parts = date.splitn(3, '-');
    let year: i64 = number(parts.next()?, 4)?;
    let month: u32 = number(parts.next()?, 2)?;
    let day: u32 = number(parts.next()?, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (clock, offset_secs) = split_zone(rest)?;
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let mut parts = hms.splitn(3, ':');
    let hour: i64 = number(parts.next()?, 2)?;
    let minute: i64 = number(parts.next()?, 2)?;
    let second: i64 = number(parts.next()?, 2)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let digits: u32 = f.parse().ok()?;
            digits * 10u32.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
    Some((seconds, nanos))
}

/// Splits `HH:MM:SS[.f]Z` or `HH:MM:SS[.f]+HH:MM` into the clock and the
/// zone's offset east of UTC in seconds.
fn split_zone(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
        return Some((clock, 0));
    }
    let at = rest.rfind(['+', '-'])?;
    let (clock, zone) = rest.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let (h, m) = zone[1..].split_once(':')?;
    let h: i64 = number(h, 2)?;
    let m: i64 = number(m, 2)?;
    Some((clock, sign * (h * 3600 + m * 60)))
}

fn number<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_amz_dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_date(951_782_400 + 3661), "20000229T010101Z");
        assert_eq!(amz_date(-1), "19691231T235959Z");
    }

    #[test]
    fn formats_http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(1_369_353_600), "Fri, 24 May 2013 00:00:00 GMT");
        assert_eq!(http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(
            parse_iso8601("2009-02-13T23:31:30Z"),
            Some((1_234_567_890, 0))
        );
    }

    #[test]
    fn parses_listing_timestamps() {
        assert_eq!(
            parse_iso8601("2009-10-12T17:50:30.000Z"),
            Some((1_255_369_830, 0))
        );
        assert_eq!(
            parse_iso8601("2013-05-24T00:00:00.123456Z"),
            Some((1_369_353_600, 123_456_000))
        );
        assert_eq!(
            parse_iso8601("2013-05-24T02:00:00+02:00"),
            Some((1_369_353_600, 0))
        );
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(parse_iso8601("1969-12-31T23:59:59Z"), Some((-1, 0)));
        for bad in [
            "",
            "2009-10-12",
            "2009-13-12T00:00:00Z",
            "2009-10-12T25:00:00Z",
            "2009-10-12T17:50:30.Z",
            "2009-10-12T17:50:30.0000000000Z",
            "09-10-12T17:50:30Z",
            "2009-10-12T17:50:30",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_days() {
        for days in [-800_000, -1, 0, 1, 11_016, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
