"""labctl's everyday verbs for learners without kubectl: get, apply, delete, describe, logs, scale, rollout."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the verbs to labctl's top-level command group."""
