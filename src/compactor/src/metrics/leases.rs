//! The lease families, recorded by the table pass as it takes, renews and gives up the leases
//! of the tables it works on, and the instance-id family that names this process.

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::families::{TASK_LABELS, counter, gauge};
use crate::job::JobKind;

/// `compactor_leases_*` and `compactor_instance_info`.
#[derive(Clone)]
pub struct LeaseMetrics {
    /// `compactor_leases_held{task}`: leases this instance holds now.
    pub held: IntGaugeVec,
    /// `compactor_leases_acquired_total{task}`: leases taken (free, released or expired).
    pub acquired: IntCounterVec,
    /// `compactor_leases_taken_over_total{task}`: of those, leases taken after another
    /// instance's expired without being released (it died or stalled).
    pub taken_over: IntCounterVec,
    /// `compactor_leases_lost_total{task}`: leases lost while working (a renewal found the
    /// lease expired or taken over, or a commit was fenced).
    pub lost: IntCounterVec,
    /// `compactor_leases_skipped_total{task}`: tables skipped because another instance, or
    /// another job, held their lease.
    pub skipped: IntCounterVec,
    /// `compactor_instance_info{instance_id}`: 1, labelled with this process's instance id.
    pub instance: IntGaugeVec,
}

impl LeaseMetrics {
    /// Creates the group's families in `r`.
    pub fn new(r: &Registry) -> Self {
        Self {
            held: gauge(
                r,
                "compactor_leases_held",
                "Table leases this instance holds now, by task (the job).",
                TASK_LABELS,
            ),
            acquired: counter(
                r,
                "compactor_leases_acquired_total",
                "Table leases this instance acquired, by task (the job).",
                TASK_LABELS,
            ),
            taken_over: counter(
                r,
                "compactor_leases_taken_over_total",
                "Table leases acquired after another instance's lease expired unreleased (it died or stalled), by task (the job).",
                TASK_LABELS,
            ),
            lost: counter(
                r,
                "compactor_leases_lost_total",
                "Table leases lost while working on the table (expired or taken over), by task (the job).",
                TASK_LABELS,
            ),
            skipped: counter(
                r,
                "compactor_leases_skipped_total",
                "Tables skipped because another instance or job held their lease, by task (the job).",
                TASK_LABELS,
            ),
            instance: gauge(
                r,
                "compactor_instance_info",
                "Always 1, labelled with this process's instance id (the owner in the lease table).",
                &["instance_id"],
            ),
        }
    }

    /// Sets `compactor_instance_info{instance_id}` to 1.
    pub fn set_instance(&self, instance: &str) {
        self.instance.with_label_values(&[instance]).set(1);
    }

    /// Creates the zero-valued child of every family for `job`.
    pub fn touch(&self, job: JobKind) {
        let name = [job.as_str()];
        self.held.with_label_values(&name);
        self.acquired.with_label_values(&name);
        self.taken_over.with_label_values(&name);
        self.lost.with_label_values(&name);
        self.skipped.with_label_values(&name);
    }
}
