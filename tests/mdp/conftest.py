from __future__ import annotations

import pytest

from gfn.chem.blocks import BlockLibrary, library_from_json

TINY = {
    "name": "tiny",
    "blocks": [
        {"name": "benzene", "smiles": "c1ccccc1", "attachments": [0, 1, 2, 3, 4, 5]},
        {"name": "pyridine", "smiles": "c1ccncc1", "attachments": [0, 1, 2]},
        {"name": "amide", "smiles": "NC=O", "attachments": [0, 1]},
        {"name": "fluoro", "smiles": "F", "attachments": [0]},
        {"name": "chloro", "smiles": "Cl", "attachments": [0]},
    ],
}


@pytest.fixture(scope="session")
def tiny_library() -> BlockLibrary:
    return library_from_json(TINY)
