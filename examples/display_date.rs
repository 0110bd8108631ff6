//! The asyncio page's "Display the current date with call_later()": print the date every
//! second for five seconds, then stop.
//!
//! Native: `cargo run --example display_date`; guest: `cargo xtask demo`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use twinloop::EventLoop;

fn display_date(ev: &EventLoop, end_time: f64) {
    println!("{}", utc_now());
    if ev.time() + 1.0 < end_time {
        let rescheduled =
            ev.call_later(Duration::from_secs(1), move |ev| display_date(ev, end_time));
        if let Err(e) = rescheduled {
            eprintln!("cannot reschedule: {e}");
            ev.stop();
        }
    } else {
        ev.stop();
    }
}

fn main() -> twinloop::Result<()> {
    let ev = EventLoop::new()?;
    // Schedule the first call to display_date().
    let end_time = ev.time() + 5.0;
    ev.call_soon(move |ev| display_date(ev, end_time))?;
    // Blocked until stop() is called.
    ev.run_forever()?;
    ev.close()
}

/// The current UTC time as `YYYY-MM-DD HH:MM:SS.ffffff`, without a date crate.
fn utc_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
