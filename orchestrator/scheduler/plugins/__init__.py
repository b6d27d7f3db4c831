"""The in-tree plugins, one package each, named as upstream so the source is easy to compare.

    nodeunschedulable  Filter: spec.unschedulable nodes (cordoned) take no new pods
    nodename           Filter: a pod asking for spec.nodeName gets only that node
    nodeready          Filter: only nodes whose Ready condition is True (upstream: a taint)
    tainttoleration    Filter: untolerated NoSchedule/NoExecute taints; Score: PreferNoSchedule
    nodeaffinity       Filter: nodeSelector and required node affinity; Score: preferred terms
    noderesources      Filter: cpu, memory, pod count; Score: Least/MostAllocated, BalancedAllocation
    nodeports          Filter: free host ports
    selectorspread     Score: spread pods of one controller across nodes and zones
    defaultbinder      Bind: post the Binding through the injected Handle.bind_pod

Kubernetes equivalent: pkg/scheduler/framework/plugins
"""
