//! The id one compactor process goes by in the lease table, its logs and its metrics.
//!
//! A host or pod name (stable across restarts, so an operator recognises the instance) plus a
//! nonce drawn when the process starts (so two processes on one host, or a restarted pod, never
//! share leases): `compactor-7d9f-abc12-3f9a0c1e`.

use std::fmt;

/// A compactor process's instance id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// The id of this process: `POD_NAME`, else `HOSTNAME`, else the kernel's host name, else
    /// `compactor`, followed by a fresh 8-hex-digit nonce.
    pub fn of_this_process() -> Self {
        let host = ["POD_NAME", "HOSTNAME"]
            .iter()
            .filter_map(|var| std::env::var(var).ok())
            .chain(std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|name| name.trim().to_string())
            .find(|name| !name.is_empty())
            .unwrap_or_else(|| "compactor".to_string());
        Self::with_host(&host)
    }

    /// The id of a process on `host`, with a fresh nonce.
    pub fn with_host(host: &str) -> Self {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("{host}-{}", &nonce[..8]))
    }

    /// The id as written in the lease table.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_processes_on_one_host_get_different_ids_with_the_host_in_both() {
        let (a, b) = (InstanceId::with_host("node-1"), InstanceId::with_host("node-1"));
        assert_ne!(a, b);
        for id in [&a, &b] {
            let nonce = id.as_str().strip_prefix("node-1-").unwrap();
            assert_eq!(nonce.len(), 8, "{id}");
            assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn this_process_has_a_host_part() {
        let id = InstanceId::of_this_process();
        let (host, nonce) = id.as_str().rsplit_once('-').unwrap();
        assert!(!host.is_empty() && nonce.len() == 8, "{id}");
    }
}
