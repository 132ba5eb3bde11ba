"""metafs on etcd: a gRPC client of etcd's v3 API (`client`) and its messages (`proto`)."""
