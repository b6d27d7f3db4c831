"""A lab on one machine: its home, credentials, embedded servers, components and their supervision.

What `labctl up`/`down`/`delete` do and what labs/ and the tests start labs with; labctl's Typer
verbs (orchestrator/cli/) only read options and print.
"""
