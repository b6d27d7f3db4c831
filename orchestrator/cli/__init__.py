"""labctl: the lab supervisor and an everyday kubectl-like CLI."""
