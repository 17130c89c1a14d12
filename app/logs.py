"""Logging setup of the service processes (called by commands, never at import)."""

from __future__ import annotations

import logging
import os


def configure_logging(default_level: str = "INFO") -> None:
    """Log to stderr at ``MOLGFN_LOG_LEVEL`` (default INFO) with the process id in each line."""
    level = os.environ.get("MOLGFN_LOG_LEVEL", default_level).upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
