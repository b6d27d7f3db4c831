"""Orchestrator Lab Kit: a small Kubernetes-like orchestrator built to be looked inside."""

__version__ = "0.1.0"
