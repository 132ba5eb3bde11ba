"""A live node: a running containerd read through its API, its runtime files and its meta.db.

This module only names where a node keeps things; the parts that need grpc load when used,
so that commands on a store do not pay for them.
"""

DEFAULT_ROOT = "/var/lib/containerd"  # containerd's root: meta.db and the snapshots
DEFAULT_STATE = "/run/containerd"  # containerd's state: its socket and the task bundles
DEFAULT_RUNC_ROOT = "/run/containerd/runc"
CGROUP_MOUNT = "/sys/fs/cgroup"
