"""The one place labctl turns expected failures into one red line on stderr and an exit code.

Every command wraps its work in `cli_errors()`: the expected failures are typed
(EmbeddedServerError, SupervisorError, PkiError, ApiError, ManifestError, CliError) and end as a message,
never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from orchestrator.api.errors import ApiError
from orchestrator.cli import render
from orchestrator.client.manifests import ManifestError
from orchestrator.lab.embedded.ports import EmbeddedServerError
from orchestrator.lab.pki import PkiError
from orchestrator.lab.supervisor import SupervisorError

err = Console(stderr=True, highlight=False)


class CliError(Exception):
    """Bad input to a labctl command; the message names the flag or file and says what to fix."""


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    try:
        yield
    except (EmbeddedServerError, SupervisorError, PkiError, ManifestError, CliError) as e:
        render.error(err, str(e))
        raise typer.Exit(1) from None
    except ApiError as e:
        render.error(err, f"the API server said: {e}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        render.error(err, "interrupted; run `labctl down` to stop what was started")
        raise typer.Exit(130) from None
