"""The lab's kube-proxy: Services and EndpointSlices become iptables NAT rules on the host.

One module per job:

- `model`: Service + EndpointSlices → `ServicePort`s with their ready endpoints;
- `rules`: service ports → the chains and rules (KUBE-SERVICES / SVC / SEP / NODEPORTS / MARK-MASQ
  as kube-proxy writes them, under the lab's own chain prefix), and the restore text for a sync;
- `iptables`: iptables-save / iptables-restore --noflush, or a dry run that applies nothing;
- `proxier`: the informers, the rate-limited sync loop (full and partial syncs), cleanup;
- `server`: /rules, /status, /metrics, /healthz.

On this kit every Docker node agent's containers share the host's network namespace (the default
Docker bridge), so one proxy per lab machine programming the host is the faithful equivalent of
one kube-proxy per node. See docs/networking.md.

Kubernetes equivalent: pkg/proxy, cmd/kube-proxy
"""
