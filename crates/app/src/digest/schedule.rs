//! When a subscriber's digest is due: at their hour, in their time zone, once per local day.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant of `hour`:00 on local date `day` in `tz`. A time skipped by a DST change
/// (02:30 on a spring-forward night) moves to the first valid hour after it; a repeated one
/// takes its first occurrence.
pub(crate) fn delivery_time(day: NaiveDate, hour: u8, tz: Tz) -> DateTime<Utc> {
    for h in u32::from(hour)..24 {
        let local = day.and_time(NaiveTime::from_hms_opt(h, 0, 0).expect("hour < 24"));
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // No valid hour left in the day (no real zone does this): the start of the next day.
    let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
    tz.from_local_datetime(&next.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| day.and_time(NaiveTime::MIN).and_utc())
}

/// The local date of the latest delivery at or before `now`: today's if the hour has come,
/// else yesterday's. (A server that was down at delivery time still sends that day's digest
/// when it comes back, at most one day late.)
pub(crate) fn latest_due(now: DateTime<Utc>, hour: u8, tz: Tz) -> (NaiveDate, DateTime<Utc>) {
    let today = now.with_timezone(&tz).date_naive();
    let at = delivery_time(today, hour, tz);
    if at <= now {
        return (today, at);
    }
    let yesterday = today.pred_opt().unwrap_or(today);
    (yesterday, delivery_time(yesterday, hour, tz))
}

/// The local date at `now` in `tz`.
pub(crate) fn local_date(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_hour_is_local() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(delivery_time(d, 8, paris), utc("2026-11-30T07:00:00Z"));
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(delivery_time(d, 8, tokyo), utc("2026-11-29T23:00:00Z"));
        // Before 08:00 in Paris the latest delivery is yesterday's; after, today's.
        assert_eq!(
            latest_due(utc("2026-11-30T06:59:00Z"), 8, paris).0,
            d.pred_opt().unwrap()
        );
        assert_eq!(latest_due(utc("2026-11-30T07:00:00Z"), 8, paris).0, d);
        // Tokyo's 30 November starts on the 29th in UTC.
        assert_eq!(latest_due(utc("2026-11-29T23:30:00Z"), 8, tokyo).0, d);
    }

    #[test]
    fn skipped_and_repeated_hours() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08 02:00 does not exist in New York: 03:00 EDT instead.
        let spring = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(delivery_time(spring, 2, ny), utc("2026-03-08T07:00:00Z"));
        // 2026-11-01 01:00 happens twice: the first (EDT) one.
        let fall = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(delivery_time(fall, 1, ny), utc("2026-11-01T05:00:00Z"));
    }
}
