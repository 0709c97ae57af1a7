//! Thread-count control. Kernels run on the rayon pool that is current when they are called;
//! [`with_threads`] makes a pool of the requested size current, built once and reused.
//!
//! The pools are this module's own, never rayon's global one, so that a process forked after
//! a kernel ran (`multiprocessing` with the fork start method, a DataLoader worker) can run
//! kernels too: a pool's threads stay in the parent, and a child that used them would wait
//! forever. Each pool remembers the process that built it; in a child, the parent's pools are
//! forgotten and new ones built.

use crate::error::{KernelError, Result};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The pools by thread count, and the process they belong to.
struct Pools {
    pid: u32,
    by_threads: HashMap<usize, Arc<ThreadPool>>,
}

static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();

fn pool(threads: usize) -> Result<Arc<ThreadPool>> {
    let pools = POOLS.get_or_init(|| {
        Mutex::new(Pools {
            pid: std::process::id(),
            by_threads: HashMap::new(),
        })
    });
    // A poisoned lock only means another thread panicked while inserting; the map is still valid.
    let mut pools = pools.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if pools.pid != pid {
        // A forked child: the threads of these pools are in the parent. Dropping a pool would
        // signal threads that are not here, so they are leaked instead, once per fork.
        for (_, stale) in pools.by_threads.drain() {
            std::mem::forget(stale);
        }
        pools.pid = pid;
    }
    if let Some(p) = pools.by_threads.get(&threads) {
        return Ok(Arc::clone(p));
    }
    let built = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("activekit-{i}"))
        .build()
        .map_err(|e| KernelError::ThreadPool {
            threads,
            reason: e.to_string(),
        })?;
    let built = Arc::new(built);
    pools.by_threads.insert(threads, Arc::clone(&built));
    Ok(built)
}

/// The cores this process may use: the most threads a pool gets.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `f` on `threads` threads (0 means one per core).
///
/// A count above the number of cores is capped there: more threads than cores only add
/// switching, and every count keeps a pool of its own, so `usize::MAX` must not try to start
/// that many threads.
///
/// Results never depend on the thread count: kernels split work into fixed-size blocks and
/// combine them in a fixed order.
pub fn with_threads<R, F>(threads: usize, f: F) -> Result<R>
where
    R: Send,
    F: FnOnce() -> R + Send,
{
    let threads = if threads == 0 {
        cores()
    } else {
        threads.min(cores())
    };
    Ok(pool(threads)?.install(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_thread_counts_are_capped_at_the_cores() {
        let n = with_threads(usize::MAX, rayon::current_num_threads).unwrap_or(0);
        assert_eq!(n, cores());
        assert_eq!(
            with_threads(0, rayon::current_num_threads).unwrap_or(0),
            cores()
        );
        assert_eq!(with_threads(1, rayon::current_num_threads).unwrap_or(0), 1);
    }
}
