"""A kopf operator for the CronTab custom resource of the Kubernetes CRD tutorial.

Run it against a lab (the CRD must exist; ``tests.factories.crontab_crd`` builds one)::

    KUBECONFIG=$(labctl kubeconfig) kopf run --standalone --namespace default labs/operators/kopf_crontab.py

When a CronTab is created it writes ``status.message`` through the status subresource and posts
an Event on the CronTab (``kubectl describe crontab NAME`` shows it). kopf finds the resource by
discovery, lists and watches it (with bookmarks), and patches with merge patches: the same API
machinery any operator uses, served by this lab.

``CRONTAB_GROUP`` names the API group (default ``stable.example.com``), so tests can use one of
their own.
"""

from __future__ import annotations

import os
from typing import Any

import kopf

GROUP = os.environ.get("CRONTAB_GROUP", "stable.example.com")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # The server ends a watch after this long and kopf starts the next one from where it was.
    settings.watching.server_timeout = 30
    settings.watching.client_timeout = 60
    # Progress in annotations only: a status schema without kopf's fields would prune them.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="crontab.labkit.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="crontab.labkit.dev")


@kopf.on.create(GROUP, "v1", "crontabs")
def scheduled(spec: kopf.Spec, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    message = f"scheduled {spec.get('image')} at {spec.get('cronSpec')!r}"
    patch.status["message"] = message
    kopf.info(body, reason="Scheduled", message=message)
