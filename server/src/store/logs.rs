//! What support reads (docs/logs.md): passthrough calls' metadata (written in batches by
//! [`crate::passthrough::log`]), the connect funnel's counts, and webhook delivery attempts (written with each
//! attempt's outcome, `outbox.rs`). All of it is kept for the log retention (`PLUGBOARD_LOG_RETENTION_DAYS`).

use sqlx::{AnyConnection, Row};

use super::{environment, Store, StoreResult};
use crate::keys::Environment;

/// One passthrough call's metadata: never a body, a header or a query value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Unix milliseconds, when the call arrived.
    pub at: i64,
    pub project_id: String,
    pub environment: Environment,
    pub connection_key: String,
    /// The integration the path names.
    pub platform: String,
    pub method: String,
    /// The provider path with its ids masked (`:id`) and only the query's parameter names
    /// ([`crate::passthrough::log::mask_path`]).
    pub path: String,
    pub status: u16,
    /// Until the answer's head was ready, in milliseconds.
    pub latency_ms: i64,
    /// The request's `Content-Length`; `None` when it streamed without one.
    pub request_bytes: Option<i64>,
    /// The answer's length when known; `None` when it streamed.
    pub response_bytes: Option<i64>,
}

/// A stored call: its id and the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    pub id: i64,
    pub call: CallRecord,
}

/// Which calls to list, newest first; every `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub project_id: Option<String>,
    pub environment: Option<Environment>,
    pub connection_key: Option<String>,
    pub platform: Option<String>,
    /// Statuses from the first to the second, inclusive (one code, or a class such as 500..=599).
    pub status: Option<(u16, u16)>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub offset: u64,
    pub limit: u64,
}

/// Columns of one inserted call: the multi-row INSERT binds this many parameters per row.
const CALL_COLUMNS: usize = 11;
/// The sizes of INSERT statements, largest first: a batch is written as a few of these (each well under SQLite's
/// 32 766 and PostgreSQL's 65 535 parameters).
const ROWS_PER_INSERT: [usize; 5] = [256, 64, 16, 4, 1];

/// One day's count of one funnel step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelCount {
    pub platform: String,
    /// Unix days (UTC).
    pub day: i64,
    pub kind: String,
    /// The error code for `error` steps, else empty.
    pub code: String,
    pub count: i64,
}

/// Which funnel counts to read; every `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct FunnelFilter {
    pub project_id: Option<String>,
    pub environment: Option<Environment>,
    pub platform: Option<String>,
    /// Unix days, inclusive.
    pub since_day: Option<i64>,
    pub until_day: Option<i64>,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub event_id: String,
    /// 1-based.
    pub attempt: i64,
    /// Unix milliseconds, when the attempt started.
    pub at: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// The INSERT statement for each size of [`ROWS_PER_INSERT`], built once.
fn insert_sql() -> &'static [String] {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        ROWS_PER_INSERT
            .iter()
            .map(|&rows| {
                let mut sql = String::from(
                    "INSERT INTO passthrough_calls (at, project_id, environment, connection_key, platform, method, path, status, latency_ms, request_bytes, response_bytes) VALUES ",
                );
                for i in 0..rows {
                    let params: Vec<String> = (1..=CALL_COLUMNS).map(|n| format!("${}", i * CALL_COLUMNS + n)).collect();
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push('(');
                    sql.push_str(&params.join(","));
                    sql.push(')');
                }
                sql
            })
            .collect()
    })
}

impl Store {
    /// Appends `calls` in one transaction, as a few multi-row INSERTs of the sizes [`ROWS_PER_INSERT`] lists.
    pub async fn insert_calls(&self, calls: &[CallRecord]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Statements of a few fixed sizes only, so each connection prepares them once and keeps them cached
        // (a statement per batch length would be prepared afresh almost every time).
        let mut rest = calls;
        while !rest.is_empty() {
            let size = ROWS_PER_INSERT.iter().copied().find(|&n| n <= rest.len()).unwrap_or(1);
            let (chunk, after) = rest.split_at(size);
            rest = after;
            let sql = &insert_sql()[ROWS_PER_INSERT.iter().position(|&n| n == size).unwrap_or(ROWS_PER_INSERT.len() - 1)];
            let mut q = sqlx::query(sql);
            for c in chunk {
                q = q
                    .bind(c.at)
                    .bind(&c.project_id)
                    .bind(c.environment.as_str())
                    .bind(&c.connection_key)
                    .bind(&c.platform)
                    .bind(&c.method)
                    .bind(&c.path)
                    .bind(i64::from(c.status))
                    .bind(c.latency_ms)
                    .bind(c.request_bytes)
                    .bind(c.response_bytes);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Calls matching `f`, newest first, `f.limit` of them from `f.offset`.
    pub async fn list_calls(&self, f: &CallFilter) -> StoreResult<Vec<CallRow>> {
        let (lo, hi) = f.status.map_or((0, 999), |(lo, hi)| (i64::from(lo), i64::from(hi)));
        let rows = sqlx::query(
            "SELECT * FROM passthrough_calls
             WHERE ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR environment = $2) AND ($3 IS NULL OR connection_key = $3)
               AND ($4 IS NULL OR platform = $4) AND status >= $5 AND status <= $6 AND at >= $7 AND at <= $8
             ORDER BY at DESC, id DESC LIMIT $9 OFFSET $10",
        )
        .bind(&f.project_id)
        .bind(f.environment.map(Environment::as_str))
        .bind(&f.connection_key)
        .bind(&f.platform)
        .bind(lo)
        .bind(hi)
        .bind(f.since_ms.unwrap_or(0))
        .bind(f.until_ms.unwrap_or(i64::MAX))
        .bind(f.limit.min(i64::MAX as u64) as i64)
        .bind(f.offset.min(i64::MAX as u64) as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let env: String = r.get("environment");
                let status: i64 = r.get("status");
                Ok(CallRow {
                    id: r.get("id"),
                    call: CallRecord {
                        at: r.get("at"),
                        project_id: r.get("project_id"),
                        environment: environment(&env)?,
                        connection_key: r.get("connection_key"),
                        platform: r.get("platform"),
                        method: r.get("method"),
                        path: r.get("path"),
                        status: u16::try_from(status).unwrap_or(0),
                        latency_ms: r.get("latency_ms"),
                        request_bytes: r.get("request_bytes"),
                        response_bytes: r.get("response_bytes"),
                    },
                })
            })
            .collect()
    }

    /// Counts one funnel step (`kind`, with `code` for errors, else empty) of `platform` (empty before one is
    /// chosen) in unix hour `hour` (unix seconds / 3600).
    pub async fn count_funnel_step(&self, project_id: &str, env: Environment, platform: &str, hour: i64, kind: &str, code: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO funnel_counts (project_id, environment, platform, hour, kind, code, count) VALUES ($1, $2, $3, $4, $5, $6, 1)
             ON CONFLICT (project_id, environment, platform, hour, kind, code) DO UPDATE SET count = funnel_counts.count + 1",
        )
        .bind(project_id)
        .bind(env.as_str())
        .bind(platform)
        .bind(hour)
        .bind(kind)
        .bind(code)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Connect errors end users of the project met in the unix hours from `since_hour` on (the errors the widget
    /// reported, by hour).
    pub async fn connect_errors_since_hour(&self, project_id: &str, since_hour: i64) -> StoreResult<u64> {
        let n: Option<i64> = sqlx::query_scalar("SELECT CAST(SUM(count) AS BIGINT) FROM funnel_counts WHERE project_id = $1 AND kind = 'error' AND hour >= $2")
            .bind(project_id)
            .bind(since_hour)
            .fetch_one(&self.pool)
            .await?;
        Ok(n.unwrap_or(0) as u64)
    }

    /// Funnel counts matching `f`, summed over projects and environments the filter leaves open, by integration,
    /// day (oldest first), step and code.
    pub async fn funnel(&self, f: &FunnelFilter) -> StoreResult<Vec<FunnelCount>> {
        let rows = sqlx::query(
            "SELECT platform, hour / 24 AS day, kind, code, CAST(SUM(count) AS BIGINT) AS total FROM funnel_counts
             WHERE ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR environment = $2) AND ($3 IS NULL OR platform = $3)
               AND hour >= $4 AND hour <= $5
             GROUP BY platform, hour / 24, kind, code ORDER BY day, platform, kind, code",
        )
        .bind(&f.project_id)
        .bind(f.environment.map(Environment::as_str))
        .bind(&f.platform)
        .bind(f.since_day.map_or(i64::MIN, |d| d.saturating_mul(24)))
        .bind(f.until_day.map_or(i64::MAX, |d| d.saturating_mul(24).saturating_add(23)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| FunnelCount { platform: r.get("platform"), day: r.get("day"), kind: r.get("kind"), code: r.get("code"), count: r.get("total") })
            .collect())
    }

    /// Every attempt of the events `event_ids`, by event and attempt number.
    pub async fn delivery_attempts(&self, event_ids: &[String]) -> StoreResult<Vec<AttemptRow>> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Vec<String> = (1..=event_ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!("SELECT * FROM delivery_attempts WHERE event_id IN ({}) ORDER BY event_id, attempt", params.join(","));
        let mut q = sqlx::query(&sql);
        for id in event_ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| AttemptRow {
                event_id: r.get("event_id"),
                attempt: r.get("attempt"),
                at: r.get("at"),
                status: r.get("status"),
                error: r.get("error"),
                latency_ms: r.get("latency_ms"),
            })
            .collect())
    }
}

/// Appends one delivery attempt inside `tx` (the transaction that records its outcome on the outbox row).
pub(super) async fn record_attempt(tx: &mut AnyConnection, a: &AttemptRow) -> StoreResult<()> {
    sqlx::query("INSERT INTO delivery_attempts (event_id, attempt, at, status, error, latency_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
        .bind(&a.event_id)
        .bind(a.attempt)
        .bind(a.at)
        .bind(a.status)
        .bind(&a.error)
        .bind(a.latency_ms)
        .execute(tx)
        .await?;
    Ok(())
}

/// What one log purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsPurged {
    pub calls: u64,
    pub funnel: u64,
    pub attempts: u64,
}

/// Removes calls, funnel counts and delivery attempts older than `retention_days` before `now` (unix seconds),
/// inside the purge's transaction.
pub(super) async fn purge(tx: &mut AnyConnection, now: i64, retention_days: u32) -> StoreResult<LogsPurged> {
    let cutoff = now - i64::from(retention_days) * 86_400;
    // Project by project, on the (project_id, at) index: no index on `at` alone slows every insert.
    let projects: Vec<String> = sqlx::query_scalar("SELECT id FROM projects").fetch_all(&mut *tx).await?;
    let mut calls = 0;
    for project in projects {
        calls += sqlx::query("DELETE FROM passthrough_calls WHERE project_id = $1 AND at < $2")
            .bind(project)
            .bind(cutoff * 1000)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    // A day is kept while any of it is within the retention.
    let funnel = sqlx::query("DELETE FROM funnel_counts WHERE hour < $1").bind(cutoff.div_euclid(86_400) * 24).execute(&mut *tx).await?.rows_affected();
    let attempts = sqlx::query("DELETE FROM delivery_attempts WHERE at < $1 OR event_id NOT IN (SELECT id FROM webhook_outbox)")
        .bind(cutoff * 1000)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(LogsPurged { calls, funnel, attempts })
}
