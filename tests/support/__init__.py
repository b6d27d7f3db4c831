"""Shared test support: the lab fixtures every integration directory uses, registered once by
tests/conftest.py (``pytest_plugins``), and the helpers several test modules share — so no conftest
imports another's fixtures (each such import made pytest start another session lab).

Kubernetes equivalent: test/integration/framework/ and test/utils/
"""
