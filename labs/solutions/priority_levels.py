"""Reference solution of the `priority-levels` exercise (notebook 07)."""

from __future__ import annotations

PREDICTIONS = {
    # node-fleets (450) comes before kube-controller-manager (800): a fleet's renewals are heartbeats.
    "fleet renews a node Lease": "node-high",
    "controller manager reads its leader Lease": "leader-election",
    "scheduler lists pods": "workload-high",
    "viewer lists pods": "global-default",
    "admin lists pods": "exempt",
}
