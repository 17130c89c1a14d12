"""Alembic migrations of the service database (``molgfn db upgrade``; see :mod:`app.db.migrate`)."""
