"""The API server: Kubernetes-compatible REST and watch over the etcd simulation."""
