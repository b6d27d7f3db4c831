"""Controller manager: reconcile loops that drive actual state toward desired state."""
