"""The etcd simulation: PostgreSQL is the durable state, a transactional outbox the revision log,
Redis Streams the watch bus. Only the API server imports this package."""
