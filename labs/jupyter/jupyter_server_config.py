"""JupyterLab server settings for `make lab` (read through JUPYTER_CONFIG_PATH=labs/jupyter).

Terminals run the user's shell as a non-login shell. jupyter-server-terminals starts a *login*
shell whenever the server's stdout is not a terminal (started from an IDE, a service, a test),
and a login shell reads /etc/profile, which on Debian and Ubuntu sets PATH afresh: the venv that
`make lab` put first on PATH would be gone, and `labctl` "command not found" in the terminal.

Kubernetes equivalent: none (the kit's teaching environment).
"""

import os

c = get_config()  # noqa: F821 - provided by the traitlets config loader
c.ServerApp.terminado_settings = {"shell_command": [os.environ.get("SHELL") or "/bin/sh"]}
