"""The lab's cluster DNS: ``<service>.<namespace>.svc.cluster.local`` from Services and EndpointSlices.

- `records`: the names and their records (A, SRV, CNAME; NXDOMAIN, NODATA, REFUSED), from caches;
- `server`: DNS over UDP and TCP on asyncio, the wire format by dnslib;
- `dnat`: the per-lab link-local nameserver address pods on Docker use, DNAT'ed to the server.

Kubernetes equivalent: CoreDNS with its kubernetes plugin (the cluster add-on ``kube-dns``)
"""
