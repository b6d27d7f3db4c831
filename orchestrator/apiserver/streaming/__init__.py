"""The streaming subresources behind routes/streaming.py: reaching the pod's node agent
(agent.py), exec and attach over channel WebSockets and the Python client's port-forward
(channels.py), kubectl's port-forward as SPDY/3.1 in a WebSocket tunnel (spdytunnel.py)."""
