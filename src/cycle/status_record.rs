//! Where the status record ([`StatusRecord`]) lives: one Key Vault secret per shard
//! ([`STATUS_RECORD_SECRET`], `-shard-INDEX-of-COUNT`) in the config's status record vault,
//! next to the alert state. Reading and writing it are the cycle's callers' business (`once`,
//! the daemon, `status`); the cycle itself never touches it.

use url::Url;

use super::{Cycle, Shard, tags};
use crate::config::STATUS_RECORD_SECRET;
use crate::error::{ErrorClass, StepError};
use crate::report::record::{RECORD_CONTENT_TYPE, StatusRecord};

/// One shard's status record secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlace {
    pub vault: Url,
    pub name: String,
}

impl Cycle {
    /// Where `shard`'s status record lives; `None` when the config names no vault at all.
    pub fn status_record_place(&self, shard: Option<Shard>) -> Option<RecordPlace> {
        Some(RecordPlace {
            vault: self.config.status_record_vault.clone()?,
            name: Shard::secret_name(STATUS_RECORD_SECRET, shard),
        })
    }

    /// Every status record `status` should read: one per shard when the config sets
    /// `[shard] count`, else the unsharded one.
    pub fn status_record_places(&self) -> Vec<RecordPlace> {
        match self.config.shard_count {
            Some(count) if count > 1 => (0..count)
                .filter_map(|index| self.status_record_place(Some(Shard { index, count })))
                .collect(),
            _ => self.status_record_place(None).into_iter().collect(),
        }
    }

    /// The stored record; `Ok(None)` when none is stored yet.
    pub async fn load_status_record(
        &self,
        place: &RecordPlace,
    ) -> Result<Option<StatusRecord>, StepError> {
        match self.vaults.read(&place.vault, &place.name).await {
            Ok(v) => {
                use secrecy::ExposeSecret;
                StatusRecord::from_json(v.value.expose_secret()).map(Some)
            }
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `record` as a new version (one write per shard per cycle).
    pub async fn save_status_record(
        &self,
        place: &RecordPlace,
        record: &StatusRecord,
    ) -> Result<(), StepError> {
        self.vaults
            .write_text(
                &place.vault,
                &place.name,
                &record.to_json(),
                RECORD_CONTENT_TYPE,
                tags::own_document(tags::PURPOSE_STATUS_RECORD, &record.run_id),
            )
            .await
            .map(|_| ())
    }
}
