"""``molgfn db upgrade`` (apply migrations) and ``molgfn db current`` (show the revision)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pydantic import ValidationError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "db",
        help="database migrations",
        description="Manage the service database (DATABASE_URL; default sqlite:///./molgfn.db).",
    )
    sub = p.add_subparsers(dest="db_command", required=True)
    up = sub.add_parser("upgrade", help="apply migrations (to the newest revision by default)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(handler=upgrade)
    cur = sub.add_parser("current", help="print the database's revision")
    cur.set_defaults(handler=current)


def _url() -> str:
    from app.cli import UsageError
    from app.settings import get_settings

    try:
        return get_settings().database_url
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def upgrade(args: argparse.Namespace) -> int:
    """Apply migrations to DATABASE_URL."""
    from sqlalchemy.exc import OperationalError

    from app.cli import UsageError
    from app.db.migrate import upgrade as do_upgrade
    from app.logs import configure_logging

    configure_logging()
    url = _url()
    try:
        do_upgrade(url, args.revision)
    except OperationalError as exc:
        raise UsageError(f"DATABASE_URL: cannot connect ({exc.orig})") from None
    return 0


def current(_args: argparse.Namespace) -> int:
    """Print the revision of DATABASE_URL (``none`` when never migrated)."""
    from app.db.migrate import current_revision

    sys.stdout.write(f"{current_revision(_url()) or 'none'}\n")
    return 0
