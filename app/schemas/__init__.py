"""API schemas (pydantic): ``*Create`` for request bodies, ``*Public`` for responses.

They are deliberately separate from the ORM models in :mod:`app.db.models`.
"""
