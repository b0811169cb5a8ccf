//! Every sealed value wherever it is stored (the `secret_key_id`, `secret_nonce`, `secret_ciphertext` columns of
//! six tables): their decoding, the counts and rewrites a master-key rotation needs, and wiping what was
//! overwritten.

use sqlx::{any::AnyRow, Row};

use super::{Store, StoreResult};
use crate::vault::Sealed;

/// A table with a sealed column (`secret_key_id`, `secret_nonce`, `secret_ciphertext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SealedTable {
    Connections,
    OAuthFlows,
    ProjectOAuthClients,
    Webhooks,
    Revocations,
    ProjectAlerts,
}

impl SealedTable {
    pub const ALL: [Self; 6] = [Self::Connections, Self::OAuthFlows, Self::ProjectOAuthClients, Self::Webhooks, Self::Revocations, Self::ProjectAlerts];

    pub fn name(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::OAuthFlows => "oauth_flows",
            Self::ProjectOAuthClients => "project_oauth_clients",
            Self::Webhooks => "webhooks",
            Self::Revocations => "revocations",
            Self::ProjectAlerts => "project_alerts",
        }
    }
}

/// One sealed value and the row it lives in: `id` is the row's id (the project id for webhooks and project
/// clients, with `platform` for the latter).
#[derive(Debug, Clone)]
pub struct SealedCell {
    pub table: SealedTable,
    pub id: String,
    pub platform: Option<String>,
    pub sealed: Sealed,
}

/// The sealed value of any row of a sealed table.
pub(super) fn sealed(row: &AnyRow) -> Sealed {
    Sealed { key_id: row.get("secret_key_id"), nonce: row.get("secret_nonce"), ciphertext: row.get("secret_ciphertext") }
}

/// The columns naming a row of a sealed table: its id, and (project clients only) the platform, else NULL.
fn sealed_row_id(table: SealedTable) -> (&'static str, &'static str) {
    match table {
        SealedTable::Connections | SealedTable::OAuthFlows | SealedTable::Revocations => ("id", "NULL"),
        SealedTable::Webhooks | SealedTable::ProjectAlerts => ("project_id", "NULL"),
        SealedTable::ProjectOAuthClients => ("project_id", "platform"),
    }
}

impl Store {
    /// How many sealed values each table holds under each master key id (wiped values are not counted).
    pub async fn sealed_key_counts(&self) -> StoreResult<Vec<(SealedTable, String, u64)>> {
        let mut out = Vec::new();
        for table in SealedTable::ALL {
            let rows = sqlx::query(&format!(
                "SELECT secret_key_id, COUNT(*) AS n FROM {} WHERE secret_key_id <> '' GROUP BY secret_key_id ORDER BY secret_key_id",
                table.name()
            ))
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows.iter().map(|r| (table, r.get::<String, _>("secret_key_id"), r.get::<i64, _>("n") as u64)));
        }
        Ok(out)
    }

    /// Up to `limit` sealed values of `table` under a key id other than `key_id`.
    pub async fn sealed_cells_not_under(&self, table: SealedTable, key_id: &str, limit: u32) -> StoreResult<Vec<SealedCell>> {
        let (id, platform) = sealed_row_id(table);
        let rows = sqlx::query(&format!(
            "SELECT {id} AS id, {platform} AS platform, secret_key_id, secret_nonce, secret_ciphertext FROM {}
             WHERE secret_key_id <> '' AND secret_key_id <> $1 LIMIT $2",
            table.name()
        ))
        .bind(key_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| SealedCell { table, id: r.get("id"), platform: r.get("platform"), sealed: sealed(r) }).collect())
    }

    /// Replaces `cell`'s sealed value with `new` if it is still the one read (same nonce): false when something
    /// else (a refresh, a reconnect) rewrote it meanwhile. Nothing else in the row changes.
    pub async fn replace_sealed(&self, cell: &SealedCell, new: &Sealed) -> StoreResult<bool> {
        let (id, platform) = sealed_row_id(cell.table);
        let done = sqlx::query(&format!(
            "UPDATE {} SET secret_key_id = $1, secret_nonce = $2, secret_ciphertext = $3
             WHERE {id} = $4 AND COALESCE({platform}, '') = $5 AND secret_nonce = $6",
            cell.table.name()
        ))
        .bind(&new.key_id)
        .bind(&new.nonce)
        .bind(&new.ciphertext)
        .bind(&cell.id)
        .bind(cell.platform.as_deref().unwrap_or_default())
        .bind(&cell.sealed.nonce)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Makes what was overwritten or deleted unrecoverable from the files: SQLite folds its write-ahead log into the
    /// database (where `secure_delete` zeroes freed content) and truncates the log, which would otherwise keep
    /// older page images — earlier versions of sealed secrets — until some later checkpoint. Called after a delete,
    /// a finished revocation and a rewrap. Backups taken before keep what they hold.
    pub async fn forget_overwritten(&self) -> StoreResult<()> {
        self.dialect.forget_overwritten(&self.pool).await
    }
}
