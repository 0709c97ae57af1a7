//! Cooperative cancellation for long kernels.
//!
//! A long kernel takes a `&Cancel` and calls [`Cancel::check`] between units of work small
//! enough that a request is noticed within a few milliseconds; it then returns
//! [`KernelError::Cancelled`] and leaves nothing half-done (its outputs are its return value).
//! The Python binding sets the token when Ctrl-C arrives.

use crate::error::{KernelError, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// A cancellation request shared between the caller and a running kernel.
#[derive(Debug, Default)]
pub struct Cancel(AtomicBool);

impl Cancel {
    /// A token that has not been cancelled.
    pub fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    /// Ask the kernel to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether cancellation was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(KernelError::Cancelled)` once cancellation was asked for.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(KernelError::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_fails_once_cancelled() {
        let c = Cancel::new();
        assert!(c.check().is_ok());
        c.cancel();
        assert_eq!(c.check(), Err(KernelError::Cancelled));
    }
}
