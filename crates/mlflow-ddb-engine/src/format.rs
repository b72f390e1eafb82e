//! Which format the table is in, detected once per process.
//!
//! Every function asks the [`FormatResolver`] before its first write: with
//! `TABLE_FORMAT=auto` (the default) it follows the table, with an explicit
//! format it refuses a table in the other one (contract §7). The answer is
//! cached; [`FormatResolver::invalidate`] makes the next call read the table
//! again (after a write was refused for an index-key type mismatch, the one
//! sign that the table under the name changed).

use std::sync::{Arc, Mutex, MutexGuard};

use mlflow_ddb_core::format::{detect_format, Detection, FormatSetting, Profile, TableFormat};
use mlflow_ddb_ports::FormatProbe;
use tracing::{info, warn};

use crate::EngineError;

/// The format of one table, read once and kept.
pub struct FormatResolver {
    setting: FormatSetting,
    /// `None`: the format is given, never read (tests on the memory store).
    probe: Option<Arc<dyn FormatProbe>>,
    cached: Mutex<Option<Arc<Detection>>>,
}

impl FormatResolver {
    /// Read the format from the table behind `probe`, under `setting`.
    pub fn detect(setting: FormatSetting, probe: Arc<dyn FormatProbe>) -> Self {
        Self {
            setting,
            probe: Some(probe),
            cached: Mutex::new(None),
        }
    }

    /// A format taken as given, without reading any table.
    pub fn fixed(format: TableFormat) -> Self {
        Self {
            setting: FormatSetting::Fixed(format),
            probe: None,
            cached: Mutex::new(Some(Arc::new(Detection {
                format,
                evidence: "given, not read".into(),
                foreign_samples: Vec::new(),
            }))),
        }
    }

    pub fn setting(&self) -> FormatSetting {
        self.setting
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<Detection>>> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The table's format: cached, or read now. An error means nothing may
    /// be written: a refused setting ([`EngineError::Format`], permanent
    /// until the setting or the table changes) or a failed read
    /// ([`EngineError::FormatRead`], transient or not as the adapter says).
    pub async fn resolve(&self) -> Result<Arc<Detection>, EngineError> {
        if let Some(d) = self.lock().clone() {
            return Ok(d);
        }
        let Some(probe) = &self.probe else {
            // `fixed` always holds a value; an invalidated fixed resolver
            // still has nothing to read.
            return Err(EngineError::Format(
                mlflow_ddb_core::CoreError::FormatUndetectable {
                    table: "(none)".into(),
                    evidence: "no table to read".into(),
                },
            ));
        };
        let evidence = probe
            .format_evidence()
            .await
            .map_err(|e| EngineError::FormatRead(Arc::new(e)))?;
        let table = probe.table_name();
        let d =
            Arc::new(detect_format(self.setting, table, &evidence).map_err(EngineError::Format)?);
        info!(table = %table, format = %d.format, setting = %self.setting, evidence = %d.evidence, "table format");
        if !d.foreign_samples.is_empty() {
            warn!(table = %table, format = %d.format, foreign = d.foreign_samples.len(),
                  "the table holds FTS items in the other format's layout: `indexer verify` lists them (foreign-format), `indexer backfill --remove-foreign` removes them");
        }
        *self.lock() = Some(d.clone());
        Ok(d)
    }

    /// The profile of the table's format (see [`resolve`](Self::resolve)).
    pub async fn profile(&self) -> Result<&'static Profile, EngineError> {
        Ok(self.resolve().await?.profile())
    }

    /// Forget the cached answer: the next call reads the table again. A
    /// fixed resolver keeps its format.
    pub fn invalidate(&self) {
        if self.probe.is_some() {
            *self.lock() = None;
        }
    }
}
