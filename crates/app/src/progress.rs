/// Reports the progress of long work (parsing, encoding, indexing) to whoever shows it.
pub trait Progress: Send + Sync {
    /// A new piece of work of `total` steps begins.
    fn begin(&self, label: &str, total: u64);
    fn advance(&self, n: u64);
    fn end(&self);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}
