"""Reference solution of the `predict-fleet-outage` exercise (notebook 06, drill 1b)."""

from __future__ import annotations

# Every node of the zone is Unknown at once: the zone is in FullDisruption, and with every zone
# there the node lifecycle controller lifts the NoExecute taints and evicts nothing.
PREDICTION = 0
