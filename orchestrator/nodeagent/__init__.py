"""Node agent (kubelet clone): registers its Node, runs the pods bound to it, reports status."""
