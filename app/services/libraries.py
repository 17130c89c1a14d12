"""Block libraries: the shipped default, user libraries from JSON fragments or BRICS, deduplicated by
content hash (posting the same blocks twice returns the stored library)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import BlockLibraryRow
from app.db.session import Database
from app.errors import InvalidInput, NotFound
from app.jsonguard import long_string
from app.schemas.libraries import LibraryCreate, LibraryDetailPublic, LibraryLinks, LibraryPublic
from gfn.chem.blocks import BlockLibrary, default_library, from_molecules, library_from_json

DEFAULT = "default"


@lru_cache(maxsize=1)
def _default() -> BlockLibrary:
    return default_library()


def to_public(row: BlockLibraryRow) -> LibraryPublic:
    """The API view of a stored library."""
    return LibraryPublic(
        id=row.id,
        name=row.name,
        content_hash=row.content_hash,
        source=row.source,  # type: ignore[arg-type]
        n_fragments=row.n_fragments,
        n_block_types=row.n_block_types,
        n_initial=row.n_initial,
        created_at=row.created_at,
        links=LibraryLinks(self=f"/libraries/{row.id}"),
    )


def to_detail(row: BlockLibraryRow) -> LibraryDetailPublic:
    """The API view with the blocks."""
    return LibraryDetailPublic(**to_public(row).model_dump(), data=row.data)


def _store(db: Database, lib: BlockLibrary, source: str) -> tuple[BlockLibraryRow, bool]:
    """Insert ``lib`` unless a library with its content hash exists; (row, created)."""
    with db.read() as session:
        row = session.scalar(select(BlockLibraryRow).where(BlockLibraryRow.content_hash == lib.content_hash))
        if row is not None:
            return row, False
    try:
        with db.write() as session:
            row = BlockLibraryRow(
                name=lib.name,
                content_hash=lib.content_hash,
                data=lib.to_json(),
                n_fragments=len(lib.fragments),
                n_block_types=lib.n_block_types,
                n_initial=lib.n_initial,
                source=source,
            )
            session.add(row)
        return row, True
    except IntegrityError:  # a concurrent request stored the same library
        with db.read() as session:
            row = session.scalar(select(BlockLibraryRow).where(BlockLibraryRow.content_hash == lib.content_hash))
            if row is None:
                raise
            return row, False


def ensure_default(db: Database) -> BlockLibraryRow:
    """The stored row of the shipped default library (stored on first use)."""
    return _store(db, _default(), "builtin")[0]


def create_library(
    db: Database, payload: LibraryCreate, max_molecules: int, max_smiles_length: int = 1000
) -> tuple[BlockLibraryRow, bool]:
    """Validate and store a library from fragments or from molecules (BRICS)."""
    for field in ("molecules", "library"):
        where = long_string(getattr(payload, field), max_smiles_length, field)
        if where is not None:
            raise InvalidInput(where, f"longer than {max_smiles_length} characters (max_smiles_length)")
    if payload.molecules is not None:
        if len(payload.molecules) > max_molecules:
            n = len(payload.molecules)
            raise InvalidInput("molecules", f"at most {max_molecules} molecules (max_library_molecules; got {n})")
        lib = from_molecules(payload.molecules, name=payload.name)
        source = "brics"
    else:
        assert payload.library is not None
        data = payload.library
        if isinstance(data, dict) and "blocks" in data:
            data = {**data, "name": payload.name}
        lib = library_from_json(data, name=payload.name)
        source = "json"
    return _store(db, lib, source)


def list_libraries(db: Database) -> list[BlockLibraryRow]:
    """Every library, the default first stored on demand."""
    ensure_default(db)
    with db.read() as session:
        return list(session.scalars(select(BlockLibraryRow).order_by(BlockLibraryRow.created_at)))


def get_library(session: Session, library_id: str) -> BlockLibraryRow:
    """A library by id (``default`` allowed only after :func:`ensure_default`)."""
    row = session.get(BlockLibraryRow, library_id)
    if row is None:
        raise NotFound(f"no library {library_id!r}")
    return row


def resolve(db: Database, ref: str) -> BlockLibraryRow:
    """``default`` or a library id → its row; unknown ids are an input error of field ``library``."""
    if ref == DEFAULT:
        return ensure_default(db)
    with db.read() as session:
        row = session.get(BlockLibraryRow, ref)
    if row is None:
        raise InvalidInput("library", f"no library with id {ref!r} (use 'default' or an id from GET /libraries)")
    return row
