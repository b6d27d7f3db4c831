"""Facts about objects that several components need, defined once.

Kubernetes equivalent: k8s.io/kubernetes/pkg/api/v1/pod/util.go (IsPodTerminal and friends).
"""

from __future__ import annotations

# A pod in one of these phases never runs again: its containers are done (restartPolicy allowed
# no more). Controllers stop counting it as active, the scheduler frees its resources, the node
# agent stops syncing it.
TERMINAL_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed"})
