//! Thread-count control. Kernels run on the rayon pool that is current when they are called;
//! [`with_threads`] makes a pool of the requested size current, built once and reused.

use crate::error::{KernelError, Result};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();

fn pool(threads: usize) -> Result<Arc<ThreadPool>> {
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    // A poisoned lock only means another thread panicked while inserting; the map is still valid.
    let mut map = pools.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(&threads) {
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
    map.insert(threads, Arc::clone(&built));
    Ok(built)
}

/// The cores this process may use: the most threads a pool gets.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `f` on `threads` threads (0 means rayon's global pool, one thread per core).
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
    if threads == 0 {
        Ok(f())
    } else {
        Ok(pool(threads.min(cores()))?.install(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_thread_counts_are_capped_at_the_cores() {
        let n = with_threads(usize::MAX, rayon::current_num_threads).unwrap_or(0);
        assert_eq!(n, cores());
        assert_eq!(with_threads(1, rayon::current_num_threads).unwrap_or(0), 1);
    }
}
