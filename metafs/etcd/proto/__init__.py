"""Messages of etcd's v3 API that metafs uses, generated from etcd.proto by scripts/protos."""
