"""Persistence: ORM tables, sessions and Alembic migrations."""

from secops.store.db import Database

__all__ = ["Database"]
