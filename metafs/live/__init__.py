"""A live node: a running containerd read through its API, its runtime files and its meta.db."""
