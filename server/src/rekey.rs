//! Retiring master keys: which key id seals how many values (`plugboard vault status`), and re-encrypting every
//! sealed value under the current key (`plugboard vault rewrap`) so an old key can be removed from
//! `PLUGBOARD_MASTER_KEY`. Runs beside live servers: each value is replaced only if it is still the one read
//! (same nonce), so a refresh or reconnect that rewrites a connection meanwhile wins and is never undone.

use std::collections::BTreeMap;

use crate::{
    projects::Projects,
    store::{SealedCell, SealedTable, SharedStore, StoreError},
    vault::{Vault, VaultError},
};

#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value the configured keys cannot open: its key id is missing, or the record is damaged.
    #[error("{table} row {id}: {source}")]
    Open { table: &'static str, id: String, source: VaultError },
}

/// Sealed values per master key id and table: `counts[key_id][table]`.
pub async fn status(store: &SharedStore) -> Result<BTreeMap<String, BTreeMap<SealedTable, u64>>, StoreError> {
    let mut counts: BTreeMap<String, BTreeMap<SealedTable, u64>> = BTreeMap::new();
    for (table, key_id, n) in store.sealed_key_counts().await? {
        counts.entry(key_id).or_default().insert(table, n);
    }
    Ok(counts)
}

/// Key ids that seal values but are not in `vault`, with how many values each: those values cannot be opened.
pub async fn unconfigured(store: &SharedStore, vault: &Vault) -> Result<Vec<(String, u64)>, StoreError> {
    Ok(status(store).await?.into_iter().filter(|(id, _)| !vault.has_key(id)).map(|(id, t)| (id, t.values().sum())).collect())
}

/// What [`rewrap`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rewrapped {
    /// Values now sealed under the current key.
    pub rewrapped: u64,
    /// Values rewritten by someone else while being rewrapped (already under the current key, or read again).
    pub raced: u64,
}

/// The associated data a table's values are sealed with (what binds a ciphertext to its row).
fn aad(cell: &SealedCell) -> Vec<u8> {
    match cell.table {
        SealedTable::Connections | SealedTable::OAuthFlows => cell.id.clone().into_bytes(),
        SealedTable::Webhooks => crate::webhooks::aad(&cell.id).into_bytes(),
        SealedTable::ProjectOAuthClients => Projects::client_aad(&cell.id, cell.platform.as_deref().unwrap_or_default()),
        SealedTable::Revocations => crate::revocation::aad(&cell.id).into_bytes(),
        SealedTable::ProjectAlerts => crate::alerts::aad(&cell.id).into_bytes(),
    }
}

/// Re-encrypts every sealed value not under `vault`'s current key, table by table, in batches of 200. Stops at
/// the first value it cannot open (naming it), having kept everything done so far; running it again resumes.
pub async fn rewrap(store: &SharedStore, vault: &Vault) -> Result<Rewrapped, RekeyError> {
    let current = vault.current_key_id().to_owned();
    let mut done = Rewrapped::default();
    for table in SealedTable::ALL {
        loop {
            let cells = store.sealed_cells_not_under(table, &current, 200).await?;
            if cells.is_empty() {
                break;
            }
            for cell in cells {
                let aad = aad(&cell);
                let plain = vault.open(&cell.sealed, &aad).map_err(|source| RekeyError::Open { table: table.name(), id: cell.id.clone(), source })?;
                if store.replace_sealed(&cell, &vault.seal(&plain, &aad)).await? {
                    done.rewrapped += 1;
                } else {
                    done.raced += 1;
                }
            }
        }
    }
    // The old ciphertexts must not outlive the rewrap in the write-ahead log (the old key may leak later).
    store.forget_overwritten().await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::Sealed;

    fn cell(table: SealedTable, id: &str, platform: Option<&str>) -> SealedCell {
        SealedCell { table, id: id.into(), platform: platform.map(Into::into), sealed: Sealed { key_id: "k".into(), nonce: vec![], ciphertext: vec![] } }
    }

    #[test]
    fn each_table_is_reopened_with_the_associated_data_its_owner_sealed_it_with() {
        // What the owners use when they seal (connections and flows: the row id).
        assert_eq!(aad(&cell(SealedTable::Connections, "c1", None)), b"c1");
        assert_eq!(aad(&cell(SealedTable::OAuthFlows, "f1", None)), b"f1");
        assert_eq!(aad(&cell(SealedTable::Webhooks, "acme", None)), crate::webhooks::aad("acme").into_bytes());
        assert_eq!(aad(&cell(SealedTable::ProjectOAuthClients, "acme", Some("gmail"))), Projects::client_aad("acme", "gmail"));
        assert_eq!(aad(&cell(SealedTable::Revocations, "r1", None)), crate::revocation::aad("r1").into_bytes());
        // And a value sealed by its owner reopens through the rewrap's associated data.
        let vault = Vault::from_spec(&Vault::generate_spec()).unwrap();
        let mut c = cell(SealedTable::ProjectOAuthClients, "acme", Some("gmail"));
        c.sealed = vault.seal(b"client-secret", &Projects::client_aad("acme", "gmail"));
        assert_eq!(&*vault.open(&c.sealed, &aad(&c)).unwrap(), b"client-secret");
    }
}
