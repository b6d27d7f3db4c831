"""A plugin defined outside the registry, loaded by config as "module:Class" (like a student's)."""

from orchestrator.scheduler.framework.interfaces import SUCCESS, Status


class PreferLabelled:
    """Score: 100 on nodes with the label named in args["label"], else 0. Filter: rejects "banned"."""

    name = "PreferLabelled"

    def __init__(self, args=None, handle=None) -> None:
        self.label = (args or {}).get("label", "preferred")

    def filter(self, state, pod, node_info):
        return Status.unschedulable("node(s) were banned") if "banned" in node_info.labels else SUCCESS

    def score(self, state, pod, node_info):
        return 100 if self.label in node_info.labels else 0
