//! The process's open-file limit: raised to the hard limit at start (each connection holds a
//! descriptor, and distributions often start services with a soft limit of 1,024), and the
//! connection cap it leaves room for.

/// Descriptors kept for everything that is not a client connection: the listener, database
/// connections and files, step programs' pipes, outbound HTTP, logs.
const RESERVED: u64 = 128;

/// Raises the soft open-file limit to the hard limit and logs the result once.
pub(crate) fn raise_and_log() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => tracing::info!(open_files = soft, "open-file limit"),
        Err(err) => tracing::warn!(error = %err, "cannot raise the open-file limit"),
    }
}

/// The soft open-file limit in force, when it can be read.
fn current_soft_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The connection cap: `configured`, lowered so that connections cannot exhaust the
/// descriptors the process needs for everything else.
pub(crate) fn connection_cap(configured: usize) -> usize {
    match current_soft_limit() {
        Some(soft) => cap_for(configured, soft),
        None => configured,
    }
}

fn cap_for(configured: usize, soft_limit: u64) -> usize {
    // Small limits keep half for the rest of the process rather than a fixed reserve.
    let usable = if soft_limit > 2 * RESERVED {
        soft_limit - RESERVED
    } else {
        soft_limit / 2
    };
    let usable = usize::try_from(usable).unwrap_or(usize::MAX).max(1);
    configured.min(usable)
}

#[cfg(test)]
mod tests {
    use super::cap_for;

    #[test]
    fn the_cap_leaves_descriptors_for_the_rest_of_the_process() {
        assert_eq!(cap_for(1024, 1_048_576), 1024);
        assert_eq!(cap_for(1024, 1024), 896);
        assert_eq!(cap_for(1024, 200), 100);
        assert_eq!(cap_for(1024, 1), 1);
        assert_eq!(cap_for(10, 1024), 10);
        assert_eq!(cap_for(1 << 20, u64::MAX), 1 << 20);
    }
}
