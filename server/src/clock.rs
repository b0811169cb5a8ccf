//! The wall clock in the units Plugboard stores: unix seconds (token expiries, flows, backoffs) and unix
//! milliseconds (record and outbox times). Leases are judged by the database's clock instead (see `store`).

/// Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
