//! Thread-count control. Kernels run on the rayon pool that is current when they are called;
//! [`with_threads`] makes a pool of the requested size current, built once and reused.
//!
//! `0` threads (one per core) is a pool shared by every caller: concurrent calls share the
//! cores. An explicit count is a pool of that many threads for each calling thread, so that
//! four Python threads asking for one thread each run on four threads, not in turn on one;
//! it is freed when the calling thread ends.
//!
//! A process forked after a kernel ran (`multiprocessing` with the fork start method, a
//! DataLoader worker) must be able to run kernels too, but a pool's threads stay in the
//! parent, and a child that used them would wait forever. So the shared pool is rayon's
//! global one (a call runs on the caller's thread when it has one block of work) only in the
//! process that first ran a kernel; any other process uses a pool of this module's own. Those
//! pools remember the process that built them; in a child, the parent's are forgotten and new
//! ones built.

use crate::error::{KernelError, Result};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Pools by thread count, and the process they belong to.
struct Pools {
    pid: u32,
    by_threads: HashMap<usize, Arc<ThreadPool>>,
}

impl Pools {
    fn new() -> Self {
        Self {
            pid: std::process::id(),
            by_threads: HashMap::new(),
        }
    }

    fn get(&mut self, threads: usize) -> Result<Arc<ThreadPool>> {
        let pid = std::process::id();
        if self.pid != pid {
            // A forked child: the threads of these pools are in the parent. Dropping a pool
            // would signal threads that are not here, so they are leaked instead, once a fork.
            for (_, stale) in self.by_threads.drain() {
                std::mem::forget(stale);
            }
            self.pid = pid;
        }
        if let Some(p) = self.by_threads.get(&threads) {
            return Ok(Arc::clone(p));
        }
        let built = Arc::new(build(threads)?);
        self.by_threads.insert(threads, Arc::clone(&built));
        Ok(built)
    }
}

fn build(threads: usize) -> Result<ThreadPool> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("activekit-{i}"))
        .build()
        .map_err(|e| KernelError::ThreadPool {
            threads,
            reason: e.to_string(),
        })
}

static SHARED: OnceLock<Mutex<Pools>> = OnceLock::new();

/// The process that may use rayon's global pool: the first one to run a kernel.
static GLOBAL_POOL_PID: OnceLock<u32> = OnceLock::new();

thread_local! {
    static OWN: RefCell<Pools> = RefCell::new(Pools::new());
}

/// The cores this process may use: the most threads a pool gets.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads to run kernels on: see [`threads`].
#[derive(Clone)]
pub struct Threads(Arc<ThreadPool>);

impl Threads {
    /// Run `f` on these threads, waiting for it.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.0.install(f)
    }

    /// How many threads there are.
    pub fn count(&self) -> usize {
        self.0.current_num_threads()
    }
}

/// The pool for `threads` threads: `0` is the pool of one thread per core shared by all
/// callers; any other count, capped at the number of cores, is the calling thread's own pool.
///
/// The cap: more threads than cores only add switching, and each count keeps a pool, so
/// `usize::MAX` must not try to start that many threads.
pub fn threads(threads: usize) -> Result<Threads> {
    if threads == 0 {
        let shared = SHARED.get_or_init(|| Mutex::new(Pools::new()));
        // A poisoned lock only means another thread panicked while inserting; the map is valid.
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        return shared.get(cores()).map(Threads);
    }
    let threads = threads.min(cores());
    let own = OWN.try_with(|own| match own.try_borrow_mut() {
        Ok(mut own) => own.get(threads),
        Err(_) => build(threads).map(Arc::new),
    });
    // While the calling thread is being torn down its pools are gone: a pool for this call.
    own.unwrap_or_else(|_| build(threads).map(Arc::new))
        .map(Threads)
}

/// Run `f` on `threads` threads (see [`threads`]).
///
/// Results never depend on the thread count: kernels split work into fixed-size blocks and
/// combine them in a fixed order.
pub fn with_threads<R, F>(n: usize, f: F) -> Result<R>
where
    R: Send,
    F: FnOnce() -> R + Send,
{
    if n == 0 && *GLOBAL_POOL_PID.get_or_init(std::process::id) == std::process::id() {
        return Ok(f()); // rayon's global pool: no hop to another thread for small work
    }
    Ok(threads(n)?.run(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_thread_counts_are_capped_at_the_cores() {
        let n = with_threads(usize::MAX, rayon::current_num_threads).unwrap_or(0);
        assert_eq!(n, cores());
        let all = with_threads(0, rayon::current_num_threads).unwrap_or(0);
        assert_eq!(all, cores());
        assert_eq!(with_threads(1, rayon::current_num_threads).unwrap_or(0), 1);
    }

    #[test]
    fn explicit_counts_give_each_calling_thread_its_own_pool() {
        let name = || with_threads(1, || std::thread::current().name().map(String::from));
        let here = name().unwrap_or_default();
        assert_eq!(name().unwrap_or_default(), here); // reused
        let there = std::thread::spawn(name)
            .join()
            .ok()
            .and_then(|r| r.ok())
            .flatten();
        let ids = |r: Result<Threads>| r.map(|t| Arc::as_ptr(&t.0) as usize).unwrap_or(0);
        let (mine, other) = (
            ids(threads(1)),
            std::thread::spawn(move || ids(threads(1)))
                .join()
                .unwrap_or(0),
        );
        assert_ne!(mine, other);
        assert!(here.is_some() && there.is_some());
        // The shared pool is the same for every caller.
        let shared = ids(threads(0));
        assert_eq!(
            shared,
            std::thread::spawn(move || ids(threads(0)))
                .join()
                .unwrap_or(0)
        );
    }
}
