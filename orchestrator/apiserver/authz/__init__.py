"""Authorization: who may do what, decided once per request.

``chain`` (the request's attributes, a decision, the chain of authorizers, the Forbidden
message), ``requestinfo`` (HTTP request → attributes), ``node`` (the Node authorizer), ``rbac``
(roles and bindings as data, and their in-memory index), ``bootstrap`` (the roles every lab
starts with), ``escalation`` (you cannot grant what you do not hold), ``impersonation``
(``kubectl --as``) and ``reviews`` (``kubectl auth can-i`` / ``whoami``).

Kubernetes equivalent: k8s.io/apiserver/pkg/authorization, plugin/pkg/auth/authorizer
"""
