//! Group commit for SQLite.
//!
//! SQLite has one writer, and with `synchronous = FULL` every `COMMIT` waits for the disk. Run
//! one transaction per request and the disk's flush rate caps the API. Here every write
//! transaction is a *savepoint* inside a shared physical transaction on the one writer
//! connection, and one `COMMIT` makes a whole group durable:
//!
//! 1. `begin` queues on the connection's lock (first come, first served), opens the physical
//!    transaction if none is open, and starts a savepoint.
//! 2. `commit` releases the savepoint, registers for the group's result, lets go of the lock and
//!    queues for it again. Writers that were waiting run their transactions in the meantime.
//! 3. Whoever gets the lock back with its result still unknown commits the physical
//!    transaction for everyone registered, and hands each of them the outcome.
//!
//! So nobody hears "committed" before the data is on disk, a lone writer commits at once, and
//! under load a commit carries as many transactions as queued during the previous one. A
//! transaction dropped without commit rolls back to its savepoint and leaves the others intact.
//!
//! Statements run on the caller's thread (see [`crate::lite`]). The two that may wait, `BEGIN
//! IMMEDIATE` on another process's write lock and `COMMIT` on the disk, run on the blocking
//! pool, once per group.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use crate::{Result, StoreError, lite::LiteConn};

type Outcome = std::result::Result<(), String>;

const BEGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) struct Writer(Arc<Mutex<State>>);

struct State {
    conn: LiteConn,
    /// A physical transaction is open.
    open: bool,
    /// Transactions released into the open physical one, waiting for its `COMMIT`.
    waiting: Vec<oneshot::Sender<Outcome>>,
    /// A transaction was dropped without commit and its savepoint is still to be undone.
    dirty: bool,
}

impl Writer {
    pub(crate) fn new(mut conn: LiteConn) -> Result<Self> {
        // Each transaction is a savepoint, and SQLite keeps the pages a savepoint changes in a
        // sub-journal: in a temporary file by default, where a group's sub-journal grows with
        // every member and each page costs a write() (5 % of the server's CPU under the sign-up
        // bench). In memory it is dropped at each RELEASE instead.
        //
        // Usage batches dirty pages all over the usage_records key index (record ids are often
        // random GUIDs). With the default 2 MB page cache, a group's dirty pages spill to the
        // WAL before its COMMIT, and too little of the index stays cached to find its pages
        // again; 64 MB is this one connection's (BENCHMARKS.md).
        //
        // Checkpoints run beside the writer (see `checkpointer`). This one, inside the COMMIT
        // that passes 16,000 pages (64 MB), is the backstop: under sustained writes the log
        // starts over only when it is wholly copied as a write begins, which a checkpoint right
        // after a COMMIT on this connection ensures.
        conn.batch(
            "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; \
             PRAGMA wal_autocheckpoint = 16000;",
        )?;
        Ok(Self(Arc::new(Mutex::new(State {
            conn,
            open: false,
            waiting: Vec::new(),
            dirty: false,
        }))))
    }

    pub(crate) async fn begin(&self) -> Result<GroupTx> {
        // Bounded, so a task that opens a second write transaction while holding one fails
        // loudly instead of waiting for itself forever.
        let mut state = tokio::time::timeout(BEGIN_TIMEOUT, Arc::clone(&self.0).lock_owned())
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?;
        state.settle();
        if !state.open {
            // Marked open on the blocking thread itself: should this task be cancelled while it
            // waits, the transaction is open all the same, and the next writer must know.
            let begun;
            (state, begun) = blocking(state, |state| {
                let begun = state.conn.batch("BEGIN IMMEDIATE");
                state.open = begun.is_ok();
                begun
            })
            .await;
            begun?;
        }
        if let Err(error) = state.conn.batch("SAVEPOINT logical") {
            state.abort(&error.to_string());
            return Err(error);
        }
        Ok(GroupTx {
            state: Some(state),
            writer: Arc::clone(&self.0),
        })
    }

    pub(crate) async fn close(&self) {
        let mut state = self.0.lock().await;
        state.settle();
        if state.open {
            state.abort("the store is closing");
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// Runs `f` on the blocking pool, for the statements that may wait on the disk or on another
/// process, and hands the writer back.
async fn blocking<T: Send + 'static>(
    mut state: OwnedMutexGuard<State>,
    f: impl FnOnce(&mut State) -> T + Send + 'static,
) -> (OwnedMutexGuard<State>, T) {
    tokio::task::spawn_blocking(move || {
        let out = f(&mut state);
        (state, out)
    })
    .await
    .expect("the writer's statements do not panic")
}

impl State {
    /// Commits the physical transaction and tells every registered transaction how it went.
    fn flush(&mut self) {
        let outcome = match self.conn.batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(error) => {
                // A failed COMMIT may leave the transaction open; end it so the next group
                // starts clean.
                let _ = self.conn.batch("ROLLBACK");
                Err(error.to_string())
            }
        };
        self.open = false;
        for waiter in self.waiting.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
    }

    /// Ends the physical transaction without keeping anything, and fails everyone waiting on it.
    fn abort(&mut self, reason: &str) {
        let _ = self.conn.batch("ROLLBACK");
        self.open = false;
        for waiter in self.waiting.drain(..) {
            let _ = waiter.send(Err(format!("the group's transaction failed: {reason}")));
        }
    }

    /// Undoes a dropped transaction's savepoint. If nobody else's work is in the physical
    /// transaction, ends it too, so an idle writer never holds SQLite's write lock.
    fn settle(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        match self.conn.batch("ROLLBACK TO logical; RELEASE logical") {
            Ok(()) if self.waiting.is_empty() => {
                let _ = self.conn.batch("ROLLBACK");
                self.open = false;
            }
            Ok(()) => {}
            // SQLite rolled the whole transaction back on its own (disk full, I/O error).
            Err(error) => self.abort(&error.to_string()),
        }
    }
}

/// One write transaction: a savepoint in the writer's current group.
pub(crate) struct GroupTx {
    /// Held from `begin` until `commit` or drop; `None` only inside those two.
    state: Option<OwnedMutexGuard<State>>,
    writer: Arc<Mutex<State>>,
}

impl GroupTx {
    pub(crate) fn conn(&mut self) -> &mut LiteConn {
        let state = self
            .state
            .as_mut()
            .expect("a transaction holds the writer until it ends");
        &mut state.conn
    }

    /// Releases the transaction's savepoint, then waits for the group's `COMMIT`.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut state = self
            .state
            .take()
            .expect("a transaction holds the writer until it ends");
        if let Err(error) = state.conn.batch("RELEASE logical") {
            // Undo this savepoint only, as a drop would.
            state.dirty = true;
            state.settle();
            return Err(error);
        }
        let (sender, mut outcome) = oneshot::channel();
        state.waiting.push(sender);
        drop(state);

        // Writers queued behind us run now; then we, or one of them, commit the group.
        let mut state = Arc::clone(&self.writer).lock_owned().await;
        state.settle();
        let result = match outcome.try_recv() {
            Ok(result) => result,
            Err(oneshot::error::TryRecvError::Empty) => {
                let (state, ()) = blocking(state, State::flush).await;
                drop(state);
                outcome
                    .await
                    .unwrap_or_else(|_| Err("the group commit was abandoned".into()))
            }
            Err(oneshot::error::TryRecvError::Closed) => {
                Err("the group commit was abandoned".into())
            }
        };
        result.map_err(|reason| StoreError::Database(sqlx::Error::Protocol(reason)))
    }
}

impl Drop for GroupTx {
    fn drop(&mut self) {
        if let Some(mut state) = self.state.take() {
            state.dirty = true;
            state.settle();
        }
    }
}
