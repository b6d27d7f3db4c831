"""What the fault run found in the store: PostgreSQL in crash recovery answers "the database
system is starting up" (SQLSTATE 57P03); the API server must call that Unavailable (503), as it
does a refused connection, not an internal error (500); so must a read on a pooled connection
that the crash left closed. The chain of exceptions is built by SQLAlchemy's own asyncpg adapter,
exactly as the store receives it."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection, AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from orchestrator.storage.store import _is_connection_error


def _as_sqlalchemy_raises_it(driver_error: Exception) -> DBAPIError:
    dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, driver_error)
    except dbapi.Error as translated:
        return DBAPIError.instance("SELECT 1", (), translated, dbapi.Error)
    raise AssertionError("the adapter did not translate the error")


@pytest.mark.parametrize("message", ["the database system is starting up",
                                     "the database system is not yet accepting connections"])
def test_postgres_in_crash_recovery_counts_as_unavailable(message: str) -> None:
    wrapped = _as_sqlalchemy_raises_it(asyncpg.exceptions.CannotConnectNowError(message))
    assert type(wrapped.orig).__name__ == "Error"  # the driver's class is hidden one level down
    assert _is_connection_error(wrapped)


def test_a_dead_pooled_connection_read_through_the_raw_driver_counts_as_unavailable() -> None:
    assert _is_connection_error(asyncpg.exceptions.InterfaceError("connection is closed"))


def test_a_constraint_violation_is_not_a_connection_error() -> None:
    wrapped = _as_sqlalchemy_raises_it(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not _is_connection_error(wrapped)


def test_a_connection_left_in_the_error_consuming_state_counts_as_unavailable() -> None:
    # What asyncpg raises when a connection that failed mid-statement is used again.
    error = asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2) is in progress")
    assert _is_connection_error(error)
