"""Client side shared by every component: REST client, informers, work queue."""
