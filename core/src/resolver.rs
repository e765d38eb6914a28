//! Name resolution off the loop thread: a small process-wide pool of helper
//! threads fed by one FIFO queue of jobs.
//!
//! At most [`MAX_RESOLVER_THREADS`] threads resolve at once, whatever the
//! number of loops and connects: a burst of connects to names queues up
//! instead of starting a thread each. A thread starts (lazily) when a job
//! waits and no thread is idle, and exits after [`IDLE_EXIT`] without work.
//! Jobs are cancellable: one whose connection was closed, or moved on to
//! another connect cycle, before a thread took it is dropped unresolved, and
//! a result for a connection that no longer waits for it is discarded.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Weak;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::addr;
use crate::error::{Error, Result};
use crate::handle::Handle;

/// Most resolver threads alive at once in a process.
pub const MAX_RESOLVER_THREADS: usize = 4;
/// How long an idle resolver thread waits for a job before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(5);

/// The loop a job reports back to. The reactor implements it, so the pool
/// never depends on the reactor.
pub(crate) trait Requester: Send + Sync {
    /// Whether connection `handle` still waits for the addresses of its
    /// dialer's resolution `id` (if not, the job is dropped unresolved).
    fn wants(&self, handle: Handle, id: u32) -> bool;
    /// Hands the result to the loop (which drops it if no longer wanted)
    /// and wakes it.
    fn deliver(&self, handle: Handle, id: u32, result: Result<Vec<SocketAddr>>);
}

/// One name to resolve for one connect cycle of a connection.
pub(crate) struct Job {
    /// The loop that asked (weak: a queued job never keeps a loop alive).
    pub requester: Weak<dyn Requester>,
    pub handle: Handle,
    /// The dialer's id for this resolution (one per connect cycle).
    pub id: u32,
    pub host: String,
    pub port: u16,
}

/// What a finished job hands back to its loop.
pub(crate) type Resolved = (Handle, u32, Result<Vec<SocketAddr>>);

struct Pool {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { jobs: VecDeque::new(), threads: 0, idle: 0 });
static WORK: Condvar = Condvar::new();

/// Queues a job, starting a thread if none is free and the pool has room.
/// `ENOMEM` only if no thread exists and none can be started.
pub(crate) fn submit(job: Job) -> Result<()> {
    let mut pool = POOL.lock();
    pool.jobs.push_back(job);
    if pool.jobs.len() > pool.idle && pool.threads < MAX_RESOLVER_THREADS {
        match std::thread::Builder::new().name("netcore-resolve".into()).spawn(work) {
            Ok(_) => pool.threads += 1,
            Err(_) if pool.threads == 0 => {
                pool.jobs.pop_back();
                return Err(Error::ENOMEM);
            }
            // The running threads will get to it.
            Err(_) => {}
        }
    }
    WORK.notify_one();
    Ok(())
}

/// A pool thread: takes jobs in order until none came for [`IDLE_EXIT`].
fn work() {
    let mut pool = POOL.lock();
    loop {
        if let Some(job) = pool.jobs.pop_front() {
            parking_lot::MutexGuard::unlocked(&mut pool, || run(job));
            continue;
        }
        pool.idle += 1;
        let timed_out = WORK.wait_for(&mut pool, IDLE_EXIT).timed_out();
        pool.idle -= 1;
        if timed_out && pool.jobs.is_empty() {
            pool.threads -= 1;
            return;
        }
    }
}

/// Resolves a job's name unless its connection stopped waiting, and hands
/// the result to the loop.
fn run(job: Job) {
    let wanted = job.requester.upgrade().is_some_and(|r| r.wants(job.handle, job.id));
    if !wanted {
        return;
    }
    let result = addr::resolve(&job.host, job.port);
    if let Some(requester) = job.requester.upgrade() {
        requester.deliver(job.handle, job.id, result);
    }
}
