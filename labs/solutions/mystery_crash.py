"""Reference fix of the mystery "crash" (labs/mysteries.py): the diagnosis and the fix."""

from __future__ import annotations

from typing import Any

from labs.mysteries import CRASH_VARIABLE

DIAGNOSIS = (f"kubectl logs says 'fatal: {CRASH_VARIABLE} is not set': the container exits with 1 and "
             "restarts (CrashLoopBackOff) because its environment variable is missing")


def fix(lab: Any) -> None:
    """`kubectl set env deployment/web -n mystery-crash DATABASE_HOST=db.example`."""
    lab.kubectl("set", "env", "deployment/web", "-n", "mystery-crash", f"{CRASH_VARIABLE}=db.example")
