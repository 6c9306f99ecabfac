//! Live reload: the settings in force, replaced on SIGHUP or when the config
//! file changes, once the new file loads and validates.

use crate::config::Settings;
use std::sync::Arc;
use tokio::sync::watch;

/// The settings in force. Readers `borrow()` the current ones; the scheduler
/// waits on `changed()`.
pub type LiveSettings = watch::Receiver<Arc<Settings>>;

/// A channel holding `settings` as the settings in force.
pub fn channel(settings: Settings) -> (watch::Sender<Arc<Settings>>, LiveSettings) {
    watch::channel(Arc::new(settings))
}
