"""Persistence: SQLAlchemy schema, the core's store, Alembic migrations and the outbox."""
