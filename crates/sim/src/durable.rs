//! The durable exchange: with a state file `FILE`, every change the exchange makes to what it
//! keeps is appended to the journal `FILE.journal` and flushed to disk before the request that
//! made it is answered, so that a `kill -9` (or a power cut) loses nothing the exchange
//! confirmed.
//!
//! What is kept, and journaled as one record per change (the record format is in
//! [`crate::journal`], its payloads are [`Change`]s): an account added, funded, given new
//! balances, its key revoked, restored, restricted or its commission setting changed (the whole
//! account after the change); an executed order with the balances it moved; the demo account's
//! key; and, when the market runs faster than real time, the market time (below). Not kept:
//! prices (they follow from the seed and the clock), faults and symbol statuses (set by faults),
//! and rate-limit counters.
//!
//! **Confirmed = durable.** A request that changed something is answered only once its record
//! and every record before it are on disk; a request that changed nothing is answered only once
//! every record before it is, so no answer ever shows a state a crash could take back. The
//! records are written by one writer thread with group commit: it takes every record appended
//! since its last write, writes them, calls `fdatasync` once, and then releases every answer
//! waiting on them; the exchange's lock is never held while the disk works. An order that
//! executed in memory but whose record was not yet on disk when the process died was never
//! answered: after the restart it exists only if its record happened to reach the file
//! (otherwise a client asking for it gets -2013, and a bot records it as not executed).
//!
//! **Replay.** At start ([`DurableState::open`]) the snapshot `FILE` is read (any version,
//! including files written before the journal existed), then the records after the snapshot's
//! `journal_seq` are applied in order from `FILE.journal.compacting` (left by a compaction that
//! did not finish) and `FILE.journal`. Sequence numbers must follow each other with no gap. A
//! torn last record (the process died while writing it) is dropped with a note the caller logs;
//! a damaged record anywhere else stops the start with an error naming the file and the byte
//! offset ([`StateError::DamagedJournal`]). Then, before serving, a new snapshot holding
//! everything is written and the journal starts empty, which also cuts a torn record away.
//! Since the snapshot is written before any journal exists, a journal without its snapshot was
//! left when `FILE` was removed, the way to reset the exchange: it is renamed
//! `FILE.journal.orphaned-<ms>` with a note, never replayed onto nothing.
//!
//! **Compaction.** Every [`CompactionPolicy::every_records`] records (default 100,000) or
//! [`CompactionPolicy::every`] (default 10 minutes) when something was recorded, a compactor
//! thread takes the state at a record's sequence number `S` (under the exchange's lock, briefly),
//! asks the writer to close `FILE.journal` after record `S` (renamed `FILE.journal.compacting`;
//! the records after `S` go to a new `FILE.journal`), writes the snapshot holding `S` atomically
//! (temporary file, flush, rename, flush of the directory), then deletes the `.compacting` file.
//! A crash at any point leaves a snapshot and journal files that replay to the same state: the
//! old snapshot with both journals, or the new one whose `S` makes replay skip what it holds.
//! A compaction that fails (a full disk) is reported and retried later without closing the
//! journal again; the journal alone still holds every change.
//!
//! **Market time.** An accelerated exchange's clock must not go back after a restart (clients
//! would see candles again). Its time is in every order record and snapshot, and the writer
//! records, once a second, the time the market will have reached [`CLOCK_LEASE`] (3 s) of real
//! time later; a restart resumes from the latest of them (see
//! [`SystemClock::resume`](crate::SystemClock::resume)), slightly ahead, never behind, as long
//! as the disk answers within that lease.
//!
//! `FILE.lock` is held (an advisory lock) while an exchange uses the files: a second exchange on
//! the same files is refused ([`StateError::InUse`]). Every file is readable by its owner only.
//!
//! Why a mechanism of our own: this is a write-ahead journal of the exchange's own state, with
//! the exchange's own snapshot format and answers that wait for it; embedded databases would
//! bring a second copy of the state and their own format, and no maintained crate offers a
//! group-committed journal with these guarantees on its own.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::clock::Clock;
use crate::exchange::Exchange;
use crate::http::ExchangeHandle;
use crate::journal::{JournalEnd, MAGIC, encode_record, read_records};
use crate::state::{
    Change, Replay, SavedState, StateError, create_private, load_state, save_state,
    sync_directory_of,
};

/// How far ahead of the market's time when it is recorded the recorded time is (of real time,
/// so `speed` times that of market time): the writer records it every [`CLOCK_RECORD_EVERY`],
/// so a restart resumes ahead of any time the exchange showed unless the disk stalled longer.
const CLOCK_LEASE: Duration = Duration::from_secs(3);
/// How often an accelerated exchange's market time is recorded.
const CLOCK_RECORD_EVERY: Duration = Duration::from_secs(1);
/// How often the compactor looks whether a compaction is due.
const COMPACTION_CHECK_EVERY: Duration = Duration::from_millis(200);
/// How many orders a compaction copies from the log per hold of the exchange's lock (a
/// millisecond or so, so that requests are not held up for the whole log).
const ORDERS_PER_LOCK: usize = 4_096;

/// When the journal is folded into a new snapshot: after this many records or this long,
/// whichever comes first (the time only when something was recorded). A compaction writes the
/// whole state, so its cost grows with the order log; replay's time grows with the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Records since the last snapshot that make one due.
    pub every_records: u64,
    /// Time since the last snapshot that makes one due.
    pub every: Duration,
}

impl Default for CompactionPolicy {
    /// Every 100,000 records (about 50 MB of orders) or 10 minutes.
    fn default() -> Self {
        CompactionPolicy {
            every_records: 100_000,
            every: Duration::from_secs(600),
        }
    }
}

/// The files of a state file `FILE`.
#[derive(Debug, Clone)]
struct StateFiles {
    /// `FILE`: the snapshot.
    snapshot: PathBuf,
    /// `FILE.journal`: the records after the snapshot's (and maybe some before).
    journal: PathBuf,
    /// `FILE.journal.compacting`: the journal a compaction closed, until its snapshot is written.
    compacting: PathBuf,
    /// `FILE.lock`: held while an exchange uses the files.
    lock: PathBuf,
}

impl StateFiles {
    fn of(snapshot: &Path) -> StateFiles {
        let with_suffix = |suffix: &str| {
            let mut name = snapshot.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        StateFiles {
            snapshot: snapshot.to_owned(),
            journal: with_suffix(".journal"),
            compacting: with_suffix(".journal.compacting"),
            lock: with_suffix(".lock"),
        }
    }

    /// Takes `FILE.lock`, or says who holds it.
    fn lock(&self) -> Result<File, StateError> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&self.lock)
            .map_err(|source| StateError::Write {
                path: self.lock.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(StateError::InUse {
                path: self.snapshot.clone(),
                lock: self.lock.clone(),
            }),
            Err(fs::TryLockError::Error(source)) => Err(StateError::Write {
                path: self.lock.clone(),
                source,
            }),
        }
    }

    /// A new, empty `FILE.journal` (replacing one), its name flushed to disk.
    fn new_journal(&self) -> io::Result<File> {
        let mut file = create_private(&self.journal)?;
        file.write_all(MAGIC)?;
        file.sync_data()?;
        sync_directory_of(&self.journal)?;
        Ok(file)
    }

    /// Closes the journal: `FILE.journal` becomes `FILE.journal.compacting` and a new, empty
    /// `FILE.journal` takes its place.
    fn rotate_journal(&self) -> io::Result<File> {
        fs::rename(&self.journal, &self.compacting)?;
        self.new_journal()
    }

    /// Renames the journals holding records (which only a snapshot gives a meaning) to
    /// `FILE.journal.orphaned-<ms>`, saying so in `notes`.
    fn set_orphans_aside(&self, notes: &mut Vec<String>) -> Result<(), StateError> {
        let now_ms = crate::clock::real_now_ms();
        for journal in [&self.compacting, &self.journal] {
            let holds_records =
                fs::metadata(journal).is_ok_and(|metadata| metadata.len() > MAGIC.len() as u64);
            if !holds_records {
                continue;
            }
            let mut aside = journal.as_os_str().to_owned();
            aside.push(format!(".orphaned-{now_ms}"));
            let aside = PathBuf::from(aside);
            fs::rename(journal, &aside)
                .and_then(|()| sync_directory_of(journal))
                .map_err(|source| StateError::Write {
                    path: journal.clone(),
                    source,
                })?;
            notes.push(format!(
                "the state file {} is gone but its journal {} was left: its changes follow a snapshot that no longer exists, so it is not replayed; it was moved to {} and the exchange starts with no state",
                self.snapshot.display(),
                journal.display(),
                aside.display()
            ));
        }
        Ok(())
    }

    /// Deletes `FILE.journal.compacting` (if any) once a snapshot holds all it held.
    fn remove_compacting(&self) -> Result<(), StateError> {
        let removed = match fs::remove_file(&self.compacting) {
            Ok(()) => sync_directory_of(&self.compacting),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        };
        removed.map_err(|source| StateError::Write {
            path: self.compacting.clone(),
            source,
        })
    }
}

/// An exchange's durable state read back from its files: the snapshot `FILE` with the journal
/// `FILE.journal` replayed, to restore into an exchange and serve durably with
/// [`start_with`](crate::start_with) ([`ServeOptions::durable`](crate::ServeOptions::durable)).
///
/// Served so, every change to what the state file keeps (an order and its balances, an account
/// added, funded, given new balances, its key state or commission setting changed, the demo
/// account's key) is appended to the journal and flushed to disk before the request that made it
/// is answered, by a writer thread that flushes every record appended meanwhile at once (group
/// commit): confirmed = durable. A torn last record (a crash while writing it) is dropped with a
/// [note](Self::notes); a damaged record before it is an error naming the file and byte offset.
/// The journal is folded into a new snapshot now and then ([`CompactionPolicy`]); an accelerated
/// market resumes no earlier than a time it showed. Holds `FILE.lock` from [`open`](Self::open)
/// on, so that no other exchange uses the same files.
pub struct DurableState {
    files: StateFiles,
    lock: File,
    state: Option<SavedState>,
    last_seq: u64,
    notes: Vec<String>,
    policy: CompactionPolicy,
}

impl fmt::Debug for DurableState {
    /// Without the state: it holds the accounts' secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableState")
            .field("path", &self.files.snapshot)
            .field("last_seq", &self.last_seq)
            .field("state_read", &self.state.is_some())
            .field("notes", &self.notes)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl DurableState {
    /// Reads the snapshot at `path` and replays its journal. Nothing on disk yet is an empty
    /// state ([`saved`](Self::saved) is `None`). Errors name the file (and for the journal the
    /// byte offset) and say what to do. No file is changed before the exchange starts, but for
    /// one case: the snapshot is always written before a journal exists, so journals without a
    /// snapshot were left when `FILE` was removed (to reset the exchange); they are renamed
    /// `FILE.journal.orphaned-<ms>` (with a note) rather than replayed onto nothing.
    pub fn open(path: &Path) -> Result<DurableState, StateError> {
        let files = StateFiles::of(path);
        let lock = files.lock()?;
        let snapshot = load_state(path)?;
        let mut notes = Vec::new();
        if snapshot.is_none() {
            files.set_orphans_aside(&mut notes)?;
        }
        let snapshot_seq = snapshot.as_ref().map_or(0, |state| state.journal_seq);
        let had_snapshot = snapshot.is_some();
        let mut replay = Replay::new(snapshot);
        let mut last_seq = snapshot_seq;
        let mut next_in_files: Option<u64> = None;
        for (journal, torn_tail_allowed) in [(&files.compacting, false), (&files.journal, true)] {
            let damaged = |offset: u64, reason: String| StateError::DamagedJournal {
                path: journal.clone(),
                offset,
                reason,
            };
            let end = read_records(journal, torn_tail_allowed, |offset, seq, payload| {
                if let Some(expected) = next_in_files
                    && seq != expected
                {
                    return Err(damaged(
                        offset,
                        format!(
                            "record {seq} follows record {}: records are missing or repeated",
                            expected - 1
                        ),
                    ));
                }
                next_in_files = Some(seq.saturating_add(1));
                if seq <= snapshot_seq {
                    // Already in the snapshot (written after this journal was).
                    return Ok(());
                }
                if seq != last_seq + 1 {
                    return Err(damaged(
                        offset,
                        format!(
                            "the snapshot {} holds the records up to {snapshot_seq}, and this record is {seq}: records {} to {} are missing",
                            files.snapshot.display(),
                            last_seq + 1,
                            seq - 1
                        ),
                    ));
                }
                let change: Change = serde_json::from_slice(payload).map_err(|err| {
                    damaged(
                        offset,
                        format!("record {seq} is not a change this version reads: {err}"),
                    )
                })?;
                replay
                    .apply(seq, change)
                    .map_err(|reason| damaged(offset, format!("record {seq}: {reason}")))?;
                last_seq = seq;
                Ok(())
            })?;
            if let Some(JournalEnd::Torn { offset, reason }) = end {
                notes.push(format!(
                    "the journal {} ends in a record the exchange was writing when it stopped (at byte {offset}: {reason}); it was never confirmed, so it is dropped and cut away",
                    journal.display()
                ));
            }
        }
        let state = (had_snapshot || last_seq > snapshot_seq).then(|| replay.finish());
        Ok(DurableState {
            files,
            lock,
            state,
            last_seq,
            notes,
            policy: CompactionPolicy::default(),
        })
    }

    /// The same state, compacted by `policy` once served.
    pub fn with_compaction(mut self, policy: CompactionPolicy) -> DurableState {
        self.policy = policy;
        self
    }

    /// The journal's path (`FILE.journal`).
    pub fn journal_path(&self) -> &Path {
        &self.files.journal
    }

    /// The state read back (snapshot and journal), until it is restored; `None` when there was
    /// none. Its `market_time_ms` is where an accelerated clock resumes, `demo_api_key` the demo
    /// account's key.
    pub fn saved(&self) -> Option<&SavedState> {
        self.state.as_ref()
    }

    /// What reading the files found that an operator should know (a torn last record dropped),
    /// one sentence each, to log.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Restores the state read back into `exchange` (see [`Exchange::restore_state`]); does
    /// nothing when there is none or it was restored already. [`start_with`](crate::start_with)
    /// restores it when this was not called; call it first to add accounts the state does not
    /// have.
    pub fn restore_into(&mut self, exchange: &mut Exchange) -> Result<(), StateError> {
        match self.state.take() {
            Some(state) => exchange.restore_state(&self.files.snapshot, state),
            None => Ok(()),
        }
    }
}

/// Why the journal stopped taking changes: the answers of requests whose changes it did not
/// make durable are errors, and the exchange must be restarted on its files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JournalFailure(Arc<str>);

impl JournalFailure {
    fn io(path: &Path, action: &str, err: &io::Error) -> JournalFailure {
        JournalFailure(
            format!(
                "cannot {action} the journal {}: {err}; the exchange answers no request that changes or reads its state any more: restart it on the same files once the disk is fixed",
                path.display()
            )
            .into(),
        )
    }

    fn stopped(path: &Path) -> JournalFailure {
        JournalFailure(
            format!(
                "the exchange stopped journaling to {}: changes after its stop are not kept",
                path.display()
            )
            .into(),
        )
    }
}

/// What the journal's writer has done so far: how well group commit batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JournalStats {
    /// Records written.
    pub records: u64,
    /// Writes flushed to disk (`fdatasync` calls): each made every record since the last durable.
    pub commits: u64,
    /// Time spent in `fdatasync`, in total.
    pub sync_time: Duration,
    /// The longest `fdatasync`.
    pub slowest_sync: Duration,
}

/// Up to where the journal is on disk, and why it stopped if it did.
#[derive(Debug, Clone)]
struct DurableMark {
    /// Every record up to this one is on disk.
    through_seq: u64,
    /// Set once no record after `through_seq` ever will be.
    closed: Option<JournalFailure>,
}

/// Something for the writer to do, in order.
#[expect(
    clippy::large_enum_variant,
    reason = "records are nearly every entry: boxing them would cost an allocation per change"
)]
enum Entry {
    /// Append this record.
    Record { seq: u64, change: Change },
    /// A snapshot is taken here: flush what came before, close the journal when `rotate`, then
    /// say so on `done`.
    SnapshotPoint {
        rotate: bool,
        done: mpsc::SyncSender<Result<(), JournalFailure>>,
    },
}

/// The writer's queue, filled under the exchange's lock.
struct Queue {
    entries: Vec<Entry>,
    /// The next record's sequence number.
    next_seq: u64,
    /// The latest market time recorded ([`Change::MarketTime`]).
    resume_at_ms: Option<i64>,
    /// Asked to stop: write what is queued, then stop.
    stopping: bool,
    /// Set when the writer stopped: appends are dropped (their waiters get the reason).
    closed: Option<JournalFailure>,
}

/// The journal shared by the exchange (which appends), the writer thread (which writes), the
/// compactor and the answers waiting for their records.
pub(crate) struct Journal {
    path: PathBuf,
    queue: Mutex<Queue>,
    wake_writer: Condvar,
    durable: watch::Sender<DurableMark>,
    /// `durable`'s `through_seq`, read without a lock on the way of every answer.
    durable_seq: AtomicU64,
    /// A failure of the disk (not a stop), for [`Durability::stop`].
    failure: Mutex<Option<JournalFailure>>,
    records: AtomicU64,
    commits: AtomicU64,
    sync_nanos: AtomicU64,
    slowest_sync_nanos: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks in a way that leaves them half-changed.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Journal {
    fn new(path: PathBuf, last_seq: u64) -> Journal {
        let (durable, _) = watch::channel(DurableMark {
            through_seq: last_seq,
            closed: None,
        });
        Journal {
            path,
            queue: Mutex::new(Queue {
                entries: Vec::new(),
                next_seq: last_seq + 1,
                resume_at_ms: None,
                stopping: false,
                closed: None,
            }),
            wake_writer: Condvar::new(),
            durable,
            durable_seq: AtomicU64::new(last_seq),
            failure: Mutex::new(None),
            records: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            sync_nanos: AtomicU64::new(0),
            slowest_sync_nanos: AtomicU64::new(0),
        }
    }

    /// Queues `change` for the writer; returns its sequence number.
    pub(crate) fn append(&self, change: Change) -> u64 {
        let mut queue = lock(&self.queue);
        let seq = queue.next_seq;
        queue.next_seq += 1;
        if queue.closed.is_none() {
            if queue.entries.is_empty() {
                self.wake_writer.notify_one();
            }
            queue.entries.push(Entry::Record { seq, change });
        }
        seq
    }

    /// Whether record `seq` and every one before it are on disk.
    pub(crate) fn is_durable(&self, seq: u64) -> bool {
        self.durable_seq.load(Ordering::Acquire) >= seq
    }

    /// Waits until record `seq` and every one before it are on disk; the error when the journal
    /// stopped before.
    pub(crate) async fn wait_durable(&self, seq: u64) -> Result<(), JournalFailure> {
        if self.is_durable(seq) {
            return Ok(());
        }
        let mut marks = self.durable.subscribe();
        let mark = marks
            .wait_for(|mark| mark.through_seq >= seq || mark.closed.is_some())
            .await
            // The sender lives as long as `self`.
            .map_err(|_| JournalFailure::stopped(&self.path))?;
        match &mark.closed {
            Some(reason) if mark.through_seq < seq => Err(reason.clone()),
            _ => Ok(()),
        }
    }

    /// Waits until the journal stops taking changes, and says why.
    pub(crate) async fn closed(&self) -> JournalFailure {
        let mut marks = self.durable.subscribe();
        match marks.wait_for(|mark| mark.closed.is_some()).await {
            Ok(mark) => mark
                .closed
                .clone()
                .unwrap_or_else(|| JournalFailure::stopped(&self.path)),
            Err(_) => JournalFailure::stopped(&self.path),
        }
    }

    /// What the writer has done so far.
    pub(crate) fn stats(&self) -> JournalStats {
        JournalStats {
            records: self.records.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            sync_time: Duration::from_nanos(self.sync_nanos.load(Ordering::Relaxed)),
            slowest_sync: Duration::from_nanos(self.slowest_sync_nanos.load(Ordering::Relaxed)),
        }
    }

    /// The sequence number of the last record appended.
    fn last_seq(&self) -> u64 {
        lock(&self.queue).next_seq - 1
    }

    /// Marks a snapshot point after the last record appended (call with the exchange locked, so
    /// no change comes in between): returns that record's number, the latest market time
    /// recorded, and where the writer says once it reached the point.
    fn snapshot_point(
        &self,
        rotate: bool,
    ) -> (u64, Option<i64>, mpsc::Receiver<Result<(), JournalFailure>>) {
        let (done, reached) = mpsc::sync_channel(1);
        let mut queue = lock(&self.queue);
        match &queue.closed {
            Some(reason) => {
                // The receiver is right here: the send cannot fail.
                let _ = done.send(Err(reason.clone()));
            }
            None => {
                if queue.entries.is_empty() {
                    self.wake_writer.notify_one();
                }
                queue.entries.push(Entry::SnapshotPoint { rotate, done });
            }
        }
        (queue.next_seq - 1, queue.resume_at_ms, reached)
    }

    /// Everything up to record `seq` is on disk.
    fn publish(&self, seq: u64) {
        self.durable_seq.store(seq, Ordering::Release);
        self.durable.send_modify(|mark| mark.through_seq = seq);
    }

    /// No record after the last durable one will be written, for `reason`.
    fn close(&self, reason: JournalFailure) {
        {
            let mut queue = lock(&self.queue);
            queue.entries.clear();
            queue.closed = Some(reason.clone());
        }
        self.durable.send_modify(|mark| {
            mark.closed.get_or_insert(reason);
        });
    }

    /// Moves the next entries to write into `into` (empty), waiting for some; a market time
    /// record is added when one is due. `false` once asked to stop and nothing is left.
    fn next_entries(&self, into: &mut Vec<Entry>, clock: &MarketTimeRecorder) -> bool {
        let mut queue = lock(&self.queue);
        loop {
            if let Some(resume_at_ms) = clock.due() {
                let seq = queue.next_seq;
                queue.next_seq += 1;
                queue.resume_at_ms = Some(
                    queue
                        .resume_at_ms
                        .map_or(resume_at_ms, |kept| kept.max(resume_at_ms)),
                );
                queue.entries.push(Entry::Record {
                    seq,
                    change: Change::MarketTime { resume_at_ms },
                });
            }
            if !queue.entries.is_empty() {
                std::mem::swap(&mut queue.entries, into);
                return true;
            }
            if queue.stopping {
                return false;
            }
            queue = match clock.next_due() {
                Some(wait) => {
                    self.wake_writer
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .wake_writer
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    fn stop_writer(&self) {
        lock(&self.queue).stopping = true;
        self.wake_writer.notify_one();
    }
}

/// Decides when the writer records an accelerated market's time (see the module doc).
struct MarketTimeRecorder {
    clock: Arc<dyn Clock>,
    /// `None` when the clock is not faster than real time: nothing to record.
    next_at: Option<Instant>,
}

impl MarketTimeRecorder {
    fn new(clock: Arc<dyn Clock>) -> MarketTimeRecorder {
        let next_at = (clock.speed() > 1).then(Instant::now);
        MarketTimeRecorder { clock, next_at }
    }

    /// The time to record now, when one is due.
    fn due(&self) -> Option<i64> {
        let next_at = self.next_at?;
        (Instant::now() >= next_at).then(|| {
            let lease_ms = i64::try_from(CLOCK_LEASE.as_millis()).unwrap_or(i64::MAX);
            self.clock
                .now_ms()
                .saturating_add(lease_ms.saturating_mul(i64::from(self.clock.speed())))
        })
    }

    /// How long until the next record is due (`None`: never).
    fn next_due(&self) -> Option<Duration> {
        self.next_at
            .map(|next_at| next_at.saturating_duration_since(Instant::now()))
    }

    /// A record was just taken: the next is due a second later.
    fn recorded(&mut self) {
        if let Some(next_at) = &mut self.next_at
            && Instant::now() >= *next_at
        {
            *next_at = Instant::now() + CLOCK_RECORD_EVERY;
        }
    }
}

/// The writer thread: writes what the exchange appends, one `fdatasync` per batch (group commit),
/// until stopped or the disk fails.
fn write_journal(journal: &Journal, mut file: File, files: &StateFiles, clock: Arc<dyn Clock>) {
    let mut recorder = MarketTimeRecorder::new(clock);
    let mut entries = Vec::new();
    let mut unflushed = Unflushed::default();
    while journal.next_entries(&mut entries, &recorder) {
        recorder.recorded();
        if let Err(failure) = write_entries(journal, &mut file, files, &mut entries, &mut unflushed)
        {
            *lock(&journal.failure) = Some(failure.clone());
            journal.close(failure);
            return;
        }
    }
    journal.close(JournalFailure::stopped(&journal.path));
}

/// Records encoded but not yet on disk.
#[derive(Default)]
struct Unflushed {
    bytes: Vec<u8>,
    records: u64,
    last_seq: Option<u64>,
}

/// Writes one batch: the records, flushed to disk once, then published as durable.
fn write_entries(
    journal: &Journal,
    file: &mut File,
    files: &StateFiles,
    entries: &mut Vec<Entry>,
    unflushed: &mut Unflushed,
) -> Result<(), JournalFailure> {
    for entry in entries.drain(..) {
        match entry {
            Entry::Record { seq, change } => {
                encode_record(&mut unflushed.bytes, seq, &change).map_err(|reason| {
                    JournalFailure(
                        format!(
                            "cannot write the journal {}: {reason}; the exchange answers no request that changes or reads its state any more: restart it on the same files",
                            journal.path.display()
                        )
                        .into(),
                    )
                })?;
                unflushed.records += 1;
                unflushed.last_seq = Some(seq);
            }
            Entry::SnapshotPoint { rotate, done } => {
                let reached = flush(journal, file, unflushed).and_then(|()| {
                    if rotate {
                        *file = files.rotate_journal().map_err(|err| {
                            JournalFailure::io(&files.journal, "close and reopen", &err)
                        })?;
                    }
                    Ok(())
                });
                // The compactor may be gone; the outcome is acted on here too.
                let _ = done.send(reached.clone());
                reached?;
            }
        }
    }
    flush(journal, file, unflushed)
}

/// Writes what is unflushed, flushes the file to disk, and publishes its records as durable.
fn flush(
    journal: &Journal,
    file: &mut File,
    unflushed: &mut Unflushed,
) -> Result<(), JournalFailure> {
    let Some(last_seq) = unflushed.last_seq else {
        return Ok(());
    };
    file.write_all(&unflushed.bytes)
        .map_err(|err| JournalFailure::io(&journal.path, "write", &err))?;
    let started = Instant::now();
    file.sync_data()
        .map_err(|err| JournalFailure::io(&journal.path, "flush to disk", &err))?;
    let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    journal.commits.fetch_add(1, Ordering::Relaxed);
    journal
        .records
        .fetch_add(unflushed.records, Ordering::Relaxed);
    journal.sync_nanos.fetch_add(took, Ordering::Relaxed);
    journal
        .slowest_sync_nanos
        .fetch_max(took, Ordering::Relaxed);
    unflushed.bytes.clear();
    unflushed.records = 0;
    unflushed.last_seq = None;
    journal.publish(last_seq);
    Ok(())
}

/// The compactor thread: folds the journal into a new snapshot when one is due (see the module
/// doc), until `stop` fires or is dropped.
fn compact_journal(
    journal: &Journal,
    exchange: &ExchangeHandle,
    files: &StateFiles,
    policy: CompactionPolicy,
    stop: &mpsc::Receiver<()>,
    mut snapshot_seq: u64,
) {
    let mut last_compaction = Instant::now();
    // Set while a closed journal (`.compacting`) waits for a snapshot to hold it.
    let mut closed_journal_left = false;
    loop {
        match stop.recv_timeout(COMPACTION_CHECK_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let pending = journal.last_seq().saturating_sub(snapshot_seq);
        let due = pending >= policy.every_records.max(1)
            || (pending > 0 && last_compaction.elapsed() >= policy.every);
        if !due {
            continue;
        }
        last_compaction = Instant::now();
        match compact_once(journal, exchange, files, !closed_journal_left, &mut |_| {}) {
            Compacted::Through(seq) => {
                snapshot_seq = seq;
                closed_journal_left = false;
            }
            Compacted::Failed(error) => {
                // Whether closed now or before, a closed journal waits for the next snapshot.
                closed_journal_left = true;
                eprintln!(
                    "sim: compacting the journal failed, retried later (the journal keeps every change meanwhile): {error}"
                );
            }
            // The journal failed; it said why to every waiting answer.
            Compacted::JournalClosed => return,
        }
    }
}

/// The steps of a compaction, in order: a crash after any of them (or inside one) leaves files
/// that replay to the same state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompactionStep {
    /// Every record up to the snapshot's is on disk, and (when asked) the journal holding them
    /// is now `FILE.journal.compacting`.
    JournalClosed,
    /// The snapshot holding them replaced `FILE`.
    SnapshotWritten,
}

/// How a compaction ended.
#[derive(Debug)]
enum Compacted {
    /// The snapshot holds every record up to this one.
    Through(u64),
    /// The snapshot could not be written or the closed journal not removed: a closed journal
    /// (`FILE.journal.compacting`) is left for the next snapshot to hold.
    Failed(StateError),
    /// The journal stopped: nothing more to compact.
    JournalClosed,
}

/// One compaction (see the module doc): the state at the last record appended, the journal
/// closed after it when `close_journal` (not while an earlier closed journal is left), the
/// snapshot written, the closed journal removed. `after` hears of each step done.
fn compact_once(
    journal: &Journal,
    exchange: &ExchangeHandle,
    files: &StateFiles,
    close_journal: bool,
    after: &mut impl FnMut(CompactionStep),
) -> Compacted {
    let (seq, resume_at_ms, reached, mut state, orders) = {
        let exchange = exchange.lock();
        let (seq, resume_at_ms, reached) = journal.snapshot_point(close_journal);
        let state = exchange.save_state_but_orders();
        (seq, resume_at_ms, reached, state, exchange.order_count())
    };
    // The order log, the bulk of the state, is copied a chunk per lock: requests go on between
    // chunks, and the log only grows, so its first `orders` stay those of record `seq`.
    let mut copied = 0;
    while copied < orders {
        let end = orders.min(copied + ORDERS_PER_LOCK);
        let chunk = exchange.lock().saved_orders(copied..end);
        state.order_log.extend(chunk);
        copied = end;
    }
    match reached.recv() {
        Ok(Ok(())) => after(CompactionStep::JournalClosed),
        Ok(Err(_)) | Err(_) => return Compacted::JournalClosed,
    }
    state.journal_seq = seq;
    if let Some(resume_at_ms) = resume_at_ms {
        state.note_time(resume_at_ms);
    }
    if let Err(error) = save_state(&files.snapshot, &state) {
        return Compacted::Failed(error);
    }
    after(CompactionStep::SnapshotWritten);
    match files.remove_compacting() {
        Ok(()) => Compacted::Through(seq),
        Err(error) => Compacted::Failed(error),
    }
}

/// An exchange's journal at work: its writer and compactor threads and the state files' lock.
pub(crate) struct Durability {
    journal: Arc<Journal>,
    writer: Option<thread::JoinHandle<()>>,
    compactor: Option<thread::JoinHandle<()>>,
    stop_compactor: Option<mpsc::Sender<()>>,
    /// Held until the threads are gone.
    _lock: File,
}

impl Durability {
    /// Makes `exchange` durable in `state`'s files (see the module doc): restores the state when
    /// not done yet, writes a snapshot holding everything, starts an empty journal, and starts
    /// the writer and the compactor. Returns the exchange to serve.
    pub(crate) fn start(
        mut exchange: Exchange,
        mut state: DurableState,
    ) -> Result<(ExchangeHandle, Durability), StateError> {
        state.restore_into(&mut exchange)?;
        let DurableState {
            files,
            lock,
            last_seq,
            policy,
            ..
        } = state;
        let mut snapshot = exchange.save_state();
        snapshot.journal_seq = last_seq;
        save_state(&files.snapshot, &snapshot)?;
        files.remove_compacting()?;
        let file = files.new_journal().map_err(|source| StateError::Write {
            path: files.journal.clone(),
            source,
        })?;
        let journal = Arc::new(Journal::new(files.journal.clone(), last_seq));
        exchange.attach_journal(journal.clone(), last_seq);
        let clock = exchange.clock().clone();
        let handle = ExchangeHandle::new(exchange);
        let journal_path = files.journal.clone();
        let spawn_error = |source| StateError::Write {
            path: journal_path.clone(),
            source,
        };

        let writer = {
            let (journal, files) = (journal.clone(), files.clone());
            thread::Builder::new()
                .name("sim-journal".to_owned())
                .spawn(move || write_journal(&journal, file, &files, clock))
                .map_err(spawn_error)?
        };
        let mut durability = Durability {
            journal: journal.clone(),
            writer: Some(writer),
            compactor: None,
            stop_compactor: None,
            _lock: lock,
        };
        let (stop_compactor, stop) = mpsc::channel();
        let compactor = {
            let exchange = handle.clone();
            thread::Builder::new()
                .name("sim-compactor".to_owned())
                .spawn(move || {
                    compact_journal(&journal, &exchange, &files, policy, &stop, last_seq)
                })
                .map_err(spawn_error)?
        };
        durability.compactor = Some(compactor);
        durability.stop_compactor = Some(stop_compactor);
        Ok((handle, durability))
    }

    /// The journal.
    pub(crate) fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// Stops compacting, writes every record appended, and stops the writer (blocking until the
    /// threads are gone); the error when the disk failed before.
    pub(crate) fn stop(mut self) -> Result<(), JournalFailure> {
        self.stop_threads();
        for thread in [self.compactor.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            // A thread that panicked wrote nothing more; its failure is reported below if any.
            let _ = thread.join();
        }
        match lock(&self.journal.failure).clone() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Asks both threads to stop (the compactor first: it needs the writer to finish).
    fn stop_threads(&mut self) {
        if let Some(stop) = self.stop_compactor.take() {
            // A compactor already gone needs no telling.
            let _ = stop.send(());
        }
        if let Some(compactor) = self.compactor.take() {
            let _ = compactor.join();
        }
        self.journal.stop_writer();
    }
}

impl Drop for Durability {
    /// A server dropped without [`Durability::stop`] still writes what was appended.
    fn drop(&mut self) {
        self.stop_threads();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// What an exchange keeps of its journal: where changes go and the last one it appended.
pub(crate) struct JournalSink {
    journal: Arc<Journal>,
    last_seq: u64,
}

impl JournalSink {
    pub(crate) fn new(journal: Arc<Journal>, last_seq: u64) -> JournalSink {
        JournalSink { journal, last_seq }
    }

    /// Appends `change`.
    pub(crate) fn append(&mut self, change: Change) {
        self.last_seq = self.journal.append(change);
    }

    /// What an answer given now must wait for: `None` when every change so far is on disk.
    pub(crate) fn pending(&self) -> Option<DurableTicket> {
        (!self.journal.is_durable(self.last_seq)).then(|| DurableTicket {
            journal: self.journal.clone(),
            seq: self.last_seq,
        })
    }
}

/// An answer's wait for the records it depends on.
pub(crate) struct DurableTicket {
    journal: Arc<Journal>,
    seq: u64,
}

impl DurableTicket {
    /// Waits until the records are on disk; the error when they never will be.
    pub(crate) async fn wait(self) -> Result<(), JournalFailure> {
        self.journal.wait_durable(self.seq).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use market::Side;
    use rust_decimal::Decimal;
    use serde_json::Value;

    use crate::account::{Account, Credentials};
    use crate::clock::ManualClock;
    use crate::exchange::{ExchangeConfig, STANDARD_COMMISSION_RATE};
    use crate::order::NewMarketOrder;
    use sim_book::OrderSize;

    /// A fresh directory for one test's files.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sim-durable-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn credentials() -> Credentials {
        Credentials {
            api_key: "durableTestKey".to_owned(),
            secret: "durableTestSecret".to_owned(),
        }
    }

    /// An exchange on a stopped clock with one funded account.
    fn exchange() -> Exchange {
        let config = ExchangeConfig {
            history_ms: 60_000,
            ..ExchangeConfig::default()
        };
        let mut exchange = Exchange::new(config, Arc::new(ManualClock::new(1_750_000_000_000)))
            .expect("the default configuration is valid");
        exchange.add_account(Account::new(
            credentials(),
            [
                ("USDT".to_owned(), Decimal::from(100_000)),
                ("BTC".to_owned(), Decimal::from(2)),
            ],
            STANDARD_COMMISSION_RATE,
        ));
        exchange
    }

    /// Places `count` MARKET orders, alternately BUY and SELL, and waits until they are on disk.
    fn place(exchange: &ExchangeHandle, count: usize) {
        for index in 0..count {
            let side = if index % 2 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let order = NewMarketOrder {
                symbol: "BTCUSDT".to_owned(),
                side,
                size: OrderSize::Base(Decimal::new(1, 2)),
                client_order_id: None,
            };
            exchange
                .lock()
                .place_market_order(&credentials().api_key, order, i64::MAX)
                .expect("the account can pay");
        }
        while exchange.lock().journal_ticket().is_some() {
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// The state as JSON, without what differs between a live exchange and its replay: the
    /// snapshot's journal position.
    fn comparable(state: &SavedState) -> Value {
        let mut json = serde_json::to_value(state).unwrap();
        json.as_object_mut().unwrap().remove("journal_seq");
        json
    }

    /// Copies the files of `from` into a new directory `to`, as a crash would leave them.
    fn copy_dir(from: &Path, to: &Path) {
        let _ = fs::remove_dir_all(to);
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }

    /// The state the files in `dir` replay to.
    fn replayed(dir: &Path) -> Value {
        let state = DurableState::open(&dir.join("state.json")).unwrap();
        assert!(state.notes().is_empty(), "{:?}", state.notes());
        comparable(state.saved().expect("a state was kept"))
    }

    #[test]
    fn a_crash_at_any_step_of_a_compaction_replays_to_the_same_state() {
        let dir = scratch("compaction-crash");
        let files_dir = dir.join("live");
        fs::create_dir_all(&files_dir).unwrap();
        let path = files_dir.join("state.json");
        let never = CompactionPolicy {
            every_records: u64::MAX,
            every: Duration::from_secs(86_400),
        };
        let state = DurableState::open(&path).unwrap().with_compaction(never);
        let (handle, durability) = Durability::start(exchange(), state).unwrap();
        place(&handle, 5);
        let files = StateFiles::of(&path);

        // (crash copy, the state it must replay to)
        let mut crashes: Vec<(PathBuf, Value)> = Vec::new();
        let compacted = compact_once(durability.journal(), &handle, &files, true, &mut |step| {
            let now = comparable(&handle.lock().save_state());
            let name = format!("{step:?}");
            if step == CompactionStep::JournalClosed {
                // Inside the step: renamed, the new journal not created yet.
                let renamed_only = dir.join(format!("{name}-renamed-only"));
                copy_dir(&files_dir, &renamed_only);
                fs::remove_file(renamed_only.join("state.json.journal")).unwrap();
                crashes.push((renamed_only, now.clone()));
                // Inside the next: the snapshot's temporary file half written.
                let half_written = dir.join(format!("{name}-temporary-snapshot"));
                copy_dir(&files_dir, &half_written);
                fs::write(
                    half_written.join(".state.json.tmp-1"),
                    b"{\"format\": \"spot",
                )
                .unwrap();
                crashes.push((half_written, now.clone()));
            }
            // Changes go on between the steps, into the new journal.
            place(&handle, 2);
            let after = dir.join(name);
            copy_dir(&files_dir, &after);
            crashes.push((after, comparable(&handle.lock().save_state())));
        });
        assert!(matches!(compacted, Compacted::Through(5)), "{compacted:?}");
        assert!(!files.compacting.exists());
        place(&handle, 3);
        let live = comparable(&handle.lock().save_state());
        durability.stop().unwrap();

        assert_eq!(crashes.len(), 4);
        for (crash, expected) in &crashes {
            assert_eq!(&replayed(crash), expected, "{}", crash.display());
        }
        assert_eq!(replayed(&files_dir), live);
        // The journal holds only what came after the snapshot's records.
        let mut first_seq = None;
        read_records(&files.journal, true, |_, seq, _| {
            first_seq.get_or_insert(seq);
            Ok(())
        })
        .unwrap();
        assert_eq!(first_seq, Some(6));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_compaction_keeps_the_closed_journal_until_a_snapshot_holds_it() {
        let dir = scratch("compaction-retry");
        let path = dir.join("state.json");
        let never = CompactionPolicy {
            every_records: u64::MAX,
            every: Duration::from_secs(86_400),
        };
        let state = DurableState::open(&path).unwrap().with_compaction(never);
        let (handle, durability) = Durability::start(exchange(), state).unwrap();
        let files = StateFiles::of(&path);
        place(&handle, 4);
        // The snapshot cannot be renamed over a directory: the compaction fails after closing
        // the journal.
        let real_snapshot = dir.join("state.json.real");
        fs::rename(&path, &real_snapshot).unwrap();
        fs::create_dir(&path).unwrap();
        let failed = compact_once(durability.journal(), &handle, &files, true, &mut |_| {});
        assert!(matches!(failed, Compacted::Failed(_)), "{failed:?}");
        assert!(files.compacting.exists());
        fs::remove_dir(&path).unwrap();
        fs::rename(&real_snapshot, &path).unwrap();
        place(&handle, 3);
        // Still replayable with the closed journal left: old snapshot, closed journal, new one.
        let now = comparable(&handle.lock().save_state());
        let crash = dir.join("crash");
        fs::create_dir_all(&crash).unwrap();
        for file in [
            "state.json",
            "state.json.journal",
            "state.json.journal.compacting",
        ] {
            fs::copy(dir.join(file), crash.join(file)).unwrap();
        }
        assert_eq!(replayed(&crash), now);
        // The retry does not close the journal again (it would replace the closed one).
        let retried = compact_once(durability.journal(), &handle, &files, false, &mut |_| {});
        assert!(matches!(retried, Compacted::Through(7)), "{retried:?}");
        assert!(!files.compacting.exists());
        place(&handle, 1);
        let live = comparable(&handle.lock().save_state());
        durability.stop().unwrap();
        fs::remove_dir_all(&crash).unwrap();
        assert_eq!(replayed(&dir), live);
        fs::remove_dir_all(&dir).unwrap();
    }
}
