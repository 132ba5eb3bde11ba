"""Our own reduced protos of containerd's API, and the modules scripts/protos makes of them."""
