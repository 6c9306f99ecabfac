//! Threads at a lower CPU priority, for the CPU work of polls: parsing,
//! normalizing and sanitizing feeds and pages (`refresh::contained`). The
//! store's writer is not among them: it holds the one SQLite writer, which
//! the publisher's deletes and retention wait for too.
//!
//! A first cycle of thousands of sources keeps every core busy for seconds.
//! On the same threads as the server's work it would halve the requests
//! served: readers come first, and a poll that finishes a little later
//! loses nothing. So this work runs on threads of their own, at
//! [`NICE`] (the kernel gives such a thread about a tenth of a core's time
//! while normal threads want all of it, and all of it when they don't).
//!
//! Lowering a thread's priority is one-way for an unprivileged process,
//! so the threads are this pool's own and never run the server's work.
//! Where the pool cannot start or the priority cannot be lowered, the work
//! runs at the normal priority, as before; nothing else changes.

use std::sync::OnceLock;
use tokio::runtime::{Builder, Runtime};

/// The nice value of the pool's threads (0 is normal, 19 the lowest).
pub const NICE: i32 = 10;

/// Runs `work` on a thread of the pool and waits for it, from a thread of
/// tokio's blocking pool (the caller's runtime counts it as blocking work
/// in flight, as it would count a `spawn_blocking`). A panic in `work`
/// comes back as the error of the returned [`tokio::task::JoinError`].
pub async fn run<T, F>(work: F) -> Result<T, tokio::task::JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let Some(pool) = pool() else {
        return tokio::task::spawn_blocking(work).await;
    };
    // The blocking thread only waits; the pool's thread does the work.
    tokio::task::spawn_blocking(move || pool.block_on(pool.spawn_blocking(work))).await?
}

/// The pool, started on first use; `None` when it could not start.
fn pool() -> Option<&'static Runtime> {
    static POOL: OnceLock<Option<Runtime>> = OnceLock::new();
    POOL.get_or_init(|| {
        Builder::new_multi_thread()
            // Only its blocking threads work; one worker drives nothing.
            .worker_threads(1)
            .thread_name("librarywire-poll")
            .on_thread_start(lower_priority)
            .build()
            .inspect_err(|e| {
                tracing::warn!(
                    error = %e,
                    "cannot start the pool for the work of polls; it runs at normal priority"
                );
            })
            .ok()
    })
    .as_ref()
}

/// Lowers the calling thread's priority to [`NICE`], or leaves it where it
/// is lower already (a daemon started under `nice`). Linux only: elsewhere
/// the call would name the whole process.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let lowered =
            getpriority_process(me).and_then(|nice| setpriority_process(me, nice.max(NICE)));
        if let Err(e) = lowered {
            tracing::debug!(error = %e, "cannot lower a poll thread's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn work_runs_on_a_thread_of_lower_priority_and_the_caller_keeps_its_own() {
        let caller = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let (name, nice) = run(|| {
            let me = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
            (std::thread::current().name().map(str::to_owned), me)
        })
        .await
        .unwrap();
        assert_eq!(name.as_deref(), Some("librarywire-poll"));
        assert_eq!(nice, caller.max(NICE), "the pool's threads run at NICE");
        let after = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert_eq!(after, caller, "the caller's thread is left as it was");
    }

    #[tokio::test]
    async fn a_panic_in_the_work_is_the_callers_error() {
        let failed = run(|| -> usize { panic!("bad bytes") }).await.unwrap_err();
        assert!(failed.is_panic());
    }
}
