//! The configuration (`PK = CONFIG`, contract §2): loading it, and a small
//! time-bounded cache for long-lived consumers.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mlflow_ddb_core::config::{Config, CONFIG_PK};
use mlflow_ddb_ports::Store;

use crate::error::EngineError;

/// Read the whole `CONFIG` partition (one Query, strongly consistent) and
/// build a [`Config`] with the reference's defaults for absent items.
pub async fn load_config(store: &dyn Store) -> Result<Config, EngineError> {
    let items = store
        .query_prefix(CONFIG_PK, "", true, None)
        .await
        .map_err(|e| EngineError::ConfigRead(Arc::new(e)))?;
    Ok(Config::from_items(&items)?)
}

/// The longest a cached configuration is used: CONFIG changes at run time
/// (contract §2), so a consumer must not cache it forever.
pub const MAX_CONFIG_TTL: Duration = Duration::from_secs(60);

/// A [`Config`] kept for at most `ttl` (≤ [`MAX_CONFIG_TTL`]). Time is passed
/// in (`now`), so tests control it; [`ConfigCache::invalidate`] drops it at
/// once (e.g. when a `CONFIG` item shows up in the stream).
///
/// Shared by reference (`&self` everywhere, an internal mutex held only for
/// a copy): concurrent callers that find it stale may each load once; the
/// last load wins, which is harmless.
#[derive(Debug)]
pub struct ConfigCache {
    ttl: Duration,
    entry: Mutex<Option<(Instant, Arc<Config>)>>,
}

impl ConfigCache {
    /// A cache keeping a configuration for `ttl`, capped at [`MAX_CONFIG_TTL`].
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl: ttl.min(MAX_CONFIG_TTL),
            entry: Mutex::new(None),
        }
    }

    /// The effective time to live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> MutexGuard<'_, Option<(Instant, Arc<Config>)>> {
        self.entry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached configuration if it was loaded less than `ttl` before `now`.
    pub fn get(&self, now: Instant) -> Option<Arc<Config>> {
        match &*self.lock() {
            Some((at, config)) if now.saturating_duration_since(*at) < self.ttl && now >= *at => {
                Some(config.clone())
            }
            _ => None,
        }
    }

    /// Remember `config` as loaded at `now`.
    pub fn put(&self, config: Config, now: Instant) -> Arc<Config> {
        let config = Arc::new(config);
        *self.lock() = Some((now, config.clone()));
        config
    }

    /// Forget the cached configuration: the next [`ConfigCache::load`] reads.
    pub fn invalidate(&self) {
        *self.lock() = None;
    }

    /// The cached configuration, or a fresh [`load_config`] remembered at `now`.
    pub async fn load(&self, store: &dyn Store, now: Instant) -> Result<Arc<Config>, EngineError> {
        if let Some(c) = self.get(now) {
            return Ok(c);
        }
        let config = load_config(store).await?;
        Ok(self.put(config, now))
    }
}

impl Default for ConfigCache {
    fn default() -> Self {
        Self::new(MAX_CONFIG_TTL)
    }
}
