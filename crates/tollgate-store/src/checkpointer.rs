//! Checkpoints off the writers' path.
//!
//! In WAL mode a commit appends pages to the `-wal` file, and a checkpoint copies them back
//! into the database file and syncs it. Left to SQLite, the checkpoint runs inside the
//! `COMMIT` that pushes the log past its threshold: on the one writer connection, while every
//! writer queued behind it waits for the copy and the database file's `fsync`. Under the
//! sign-up bench that was the whole tail at half load (p99 6–66 ms with checkpoints in the
//! commit path, 4–5 ms without; BENCHMARKS.md).
//!
//! So a connection of its own runs `wal_checkpoint(PASSIVE)` a few times a second. A passive
//! checkpoint takes no lock a writer needs: it copies what is committed while writers go on
//! appending. The writer keeps a threshold of its own as a backstop (see [`writer`]): under
//! sustained writes the log only starts over when a checkpoint finds it fully copied at the
//! start of a write, which the writer's own checkpoint right after a `COMMIT` guarantees.
//!
//! [`writer`]: crate::writer

use std::time::Duration;

use sqlx::{AnyConnection, Connection, Executor};
use tokio::{sync::watch, task::JoinHandle};

/// Often enough that a busy log is copied in slices of a few megabytes, rarely enough that an
/// idle store does nothing measurable.
const INTERVAL: Duration = Duration::from_millis(250);

pub(crate) struct Checkpointer {
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub(crate) fn start(mut conn: AnyConnection) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    // Stopped, or the store was dropped without `close`.
                    _ = stopped.changed() => break,
                    _ = every.tick() => {}
                }
                // A checkpoint that cannot finish (a reader still needs old pages, the
                // writer's backstop is running) copies what it can and is tried again.
                if let Err(error) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                    tracing::warn!(%error, "background checkpoint failed");
                }
            }
            let _ = conn.close().await;
        });
        Self {
            stop,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Stops checkpointing and closes the connection.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpointer")
    }
}
