"""The metrics server: scrapes every node agent's usage summary and serves ``metrics.k8s.io`` through the API server.

    convert.py     a node's Summary → NodeMetrics and PodMetrics (pure)
    storage.py     the latest metrics of every node and pod, kept in memory
    scraper.py     every resolution: each Ready node's ``/stats/summary``, in parallel
    api.py         the ``metrics.k8s.io/v1beta1`` endpoints the API server proxies to
    apiservice.py  the APIService object that registers it with the API server
    __main__.py    ``python -m orchestrator.metrics``

Controllers read the metrics through the API server with orchestrator/client/metrics.py.
docs/metrics.md follows one sample from a container's cgroup to ``kubectl top``.

Kubernetes equivalent: sigs.k8s.io/metrics-server
"""
