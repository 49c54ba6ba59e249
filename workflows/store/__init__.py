"""The status store: SQLModel tables, engine set-up and Alembic migrations.

The store is Chaser's single source of truth. History tables are append-only.
"""
