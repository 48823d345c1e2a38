//! [`EventWriter`]: the audit trail's group commit. Every cycle queues its decision as an event;
//! a background task takes every event queued while its previous commit ran and writes them in
//! one transaction. One fsync then serves dozens of bots instead of one each, which is what lets
//! a thousand bots a second run on SQLite's single writer, and the cycle does not wait for it.
//!
//! What this trades away: an event is durable a few milliseconds after its cycle ends, so a
//! crash can lose the last batch of decisions (holds, skips, errors). Never an order, a trade or
//! a position: those are committed inside the cycle, before it goes on. [`EventWriter::flush`]
//! waits for everything queued (the scheduler calls it at shutdown).

use store::{NewEvent, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// The most events one transaction writes.
const MAX_BATCH: usize = 1_000;

/// What the writer task is given.
enum Queued {
    /// An event to write.
    Event(NewEvent),
    /// Tell this sender once everything queued before is committed.
    Flush(oneshot::Sender<()>),
}

/// Queues events for the background writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventWriter {
    queue: mpsc::UnboundedSender<Queued>,
}

impl EventWriter {
    /// Starts the writer task on the current Tokio runtime; it ends when every clone of the
    /// returned handle is gone.
    pub fn start(store: Store) -> EventWriter {
        let (queue, mut queued) = mpsc::unbounded_channel::<Queued>();
        tokio::spawn(async move {
            let mut events = Vec::new();
            let mut flushes = Vec::new();
            while let Some(first) = queued.recv().await {
                let mut next = Some(first);
                while let Some(item) = next.take() {
                    match item {
                        Queued::Event(event) => events.push(event),
                        Queued::Flush(done) => flushes.push(done),
                    }
                    if events.len() < MAX_BATCH {
                        next = queued.try_recv().ok();
                    }
                }
                match store.record_events(&events).await {
                    Ok(()) => {}
                    // The batch is all or nothing: one event whose bot was deleted meanwhile must
                    // not take the other bots' decisions with it, so each is tried alone. Any
                    // other failure (the database unreachable) would only repeat per event.
                    Err(error @ StoreError::NotFound { .. }) => {
                        warn!(%error, events = events.len(), "cannot record the events as a batch; one by one");
                        for event in &events {
                            if let Err(error) = store.record_new_event(event).await {
                                warn!(%error, bot = %event.bot_id, "cannot record a cycle's event");
                            }
                        }
                    }
                    Err(error) => {
                        warn!(%error, events = events.len(), "cannot record the cycles' events; they are lost");
                    }
                }
                events.clear();
                for done in flushes.drain(..) {
                    // A flush whose caller stopped waiting needs no answer.
                    let _ = done.send(());
                }
            }
        });
        EventWriter { queue }
    }

    /// Queues `event`; it is committed with the next batch.
    pub fn record(&self, event: NewEvent) -> Result<(), String> {
        self.queue
            .send(Queued::Event(event))
            .map_err(|_| "the event writer stopped".to_owned())
    }

    /// Returns once every event queued before is committed (or its batch failed, which the
    /// writer logs).
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Queued::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }
}
