"""Prometheus metrics of the API server, named as kube-apiserver names them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "apiserver_request_total", "Requests by verb, resource and HTTP code.",
    ["verb", "group", "resource", "subresource", "code"], registry=REGISTRY,
)
LATENCY = Histogram(
    "apiserver_request_duration_seconds", "Request latency (watches: until the stream is set up).",
    ["verb", "resource"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WATCHERS = Gauge("apiserver_longrunning_requests", "Open watches.", ["resource"], registry=REGISTRY)
WATCH_EVENTS = Counter("apiserver_watch_events_total", "Watch events sent.", ["resource"], registry=REGISTRY)
STORE_WRITES = Gauge("labkit_store_writes_committed", "Writes committed by this process's store.", registry=REGISTRY)
STORE_BATCHES = Gauge("labkit_store_batches_committed", "Write transactions (group commits).", registry=REGISTRY)
FLOWCONTROL_SEATS = Gauge("apiserver_flowcontrol_nominal_limit_seats", "Seats of each priority level.",
                          ["priority_level"], registry=REGISTRY)
FLOWCONTROL_EXECUTING = Gauge("apiserver_flowcontrol_current_executing_requests",
                              "Requests holding a seat, by priority level.", ["priority_level"], registry=REGISTRY)
FLOWCONTROL_INQUEUE = Gauge("apiserver_flowcontrol_current_inqueue_requests",
                            "Requests waiting for a seat, by priority level.", ["priority_level"], registry=REGISTRY)
FLOWCONTROL_WAIT = Histogram("apiserver_flowcontrol_request_wait_duration_seconds",
                             "How long queued requests waited for a seat.", ["priority_level"], registry=REGISTRY,
                             buckets=(0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15))
FLOWCONTROL_REJECTED = Counter("apiserver_flowcontrol_rejected_requests_total",
                               "Requests answered 429 by flow control, by priority level and reason.",
                               ["priority_level", "reason"], registry=REGISTRY)
