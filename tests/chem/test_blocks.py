"""Block libraries: the shipped default library, content hashing, JSON round trips, the original
GFlowNet format, BRICS-derived libraries, and every kind of bad input (LibraryError naming the
offending fragment and the reason)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from rdkit import Chem

from gfn.chem.blocks import (
    OWN_FORMAT,
    BlockLibrary,
    BlockSpec,
    free_valence,
    from_molecules,
    library_from_json,
    load_library,
)
from gfn.errors import GfnError, LibraryError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BLOCKS: list[dict[str, Any]] = json.loads(
    resources.files("gfn").joinpath("data/default_blocks.json").read_text()
)["blocks"]

# Drug-like molecules for the BRICS tests (no stereocentres; a separate test covers them).
DRUGS = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "ibuprofen": "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "celecoxib": "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1",
    "gefitinib": "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1",
    "diphenhydramine": "CN(C)CCOC(c1ccccc1)c1ccccc1",
}


def canon(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    assert mol is not None, smiles
    return Chem.MolToSmiles(mol)


def spec_dicts(lib: BlockLibrary) -> list[dict[str, Any]]:
    return [dict(b) for b in lib.to_json()["blocks"]]


# ------------------------------------------------------------------- decomposition check helpers
def _join_of_library_fragments(lib: BlockLibrary, f: int, cut: tuple[int, ...]) -> bool:
    """Is fragment ``f`` with the single bonds ``cut`` broken a set of library fragments, each
    joined at atoms where some entry of the library offers (enough) attachments?"""
    mol = lib.fragment_mol(f)
    rw = Chem.RWMol(mol)
    for atom in rw.GetAtoms():  # freeze hydrogen counts, then give each cut end one more
        atom.SetNumExplicitHs(atom.GetTotalNumHs())
        atom.SetNoImplicit(True)
    cuts: Counter[int] = Counter()
    for b in cut:
        bond = mol.GetBondWithIdx(b)
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        rw.RemoveBond(i, j)
        for x in (i, j):
            atom = rw.GetAtomWithIdx(x)
            atom.SetNumExplicitHs(atom.GetNumExplicitHs() + 1)
            cuts[x] += 1
    split = rw.GetMol()
    Chem.SanitizeMol(split)
    mapping: list[tuple[int, ...]] = []
    pieces = Chem.GetMolFrags(split, asMols=True, fragsMolAtomMapping=mapping)
    by_smiles = {fr.smiles: g for g, fr in enumerate(lib.fragments)}
    stems: dict[int, list[Counter[int]]] = defaultdict(list)
    for block in lib.initial_blocks:
        stems[block.fragment].append(Counter(block.stems))
    for piece, atoms in zip(pieces, mapping, strict=True):
        g = by_smiles.get(canon(Chem.MolToSmiles(piece)))
        if g is None:
            return False
        need = {p: cuts[orig] for p, orig in enumerate(atoms) if cuts[orig]}
        matches = lib.fragment_mol(g).GetSubstructMatches(piece, uniquify=False, useChirality=False)
        if not any(
            all(offer[match[p]] >= count for p, count in need.items()) for match in matches for offer in stems[g]
        ):
            return False
    return True


def joins_of_other_fragments(lib: BlockLibrary) -> dict[str, tuple[int, ...]]:
    """Fragments that are themselves buildable from ≥ 2 library fragments (→ several block graphs
    for one molecule). Returns fragment name → the bonds cut by the first split found."""
    found: dict[str, tuple[int, ...]] = {}
    for f, frag in enumerate(lib.fragments):
        mol = lib.fragment_mol(f)
        cuttable = [b.GetIdx() for b in mol.GetBonds() if b.GetBondType() == Chem.BondType.SINGLE and not b.IsInRing()]
        for k in range(1, len(cuttable) + 1):
            hit = next((c for c in combinations(cuttable, k) if _join_of_library_fragments(lib, f, c)), None)
            if hit is not None:
                found[frag.name] = hit
                break
    return found


# ============================================================ the default library
def test_default_library_loads_with_at_least_60_fragments(default_lib: BlockLibrary) -> None:
    assert default_lib.name == "default"
    assert default_lib.format == OWN_FORMAT
    assert len(default_lib.fragments) >= 60
    assert len(default_lib.specs) == len(DEFAULT_BLOCKS)
    assert load_library("default").content_hash == default_lib.content_hash


def test_default_file_is_in_the_projects_own_format(default_json: dict[str, Any]) -> None:
    assert set(default_json) == {"format", "name", "blocks"}
    assert default_json["format"] == OWN_FORMAT
    assert default_json["name"] == "default"
    names = [b["name"] for b in default_json["blocks"]]
    assert len(names) == len(set(names)), "block names must be unique"
    for b in default_json["blocks"]:
        assert set(b) == {"name", "smiles", "attachments"}, b
        assert isinstance(b["attachments"], list) and b["attachments"], b
        assert all(type(a) is int for a in b["attachments"]), b


@pytest.mark.parametrize("block", DEFAULT_BLOCKS, ids=[b["name"] for b in DEFAULT_BLOCKS])
def test_default_fragment_sanitizes_and_has_free_attachments(block: dict[str, Any]) -> None:
    mol = Chem.MolFromSmiles(block["smiles"])
    assert mol is not None, f"{block['name']}: {block['smiles']!r} does not sanitize"
    assert Chem.SanitizeMol(mol) == Chem.SanitizeFlags.SANITIZE_NONE
    assert len(Chem.GetMolFrags(mol)) == 1
    assert all(a.GetNumRadicalElectrons() == 0 and a.GetFormalCharge() == 0 for a in mol.GetAtoms())
    for idx, count in Counter(block["attachments"]).items():
        assert 0 <= idx < mol.GetNumAtoms()
        atom = mol.GetAtomWithIdx(idx)
        assert count <= free_valence(atom), f"{block['name']}: atom {idx} has no free valence"
        # stricter than the loader: only hydrogens are substituted, except on sulfonyl's S(VI)
        if count > atom.GetTotalNumHs():
            assert atom.GetSymbol() == "S" and not atom.GetIsAromatic() and atom.GetDegree() == 2, block


def test_default_fragments_are_distinct(default_lib: BlockLibrary) -> None:
    smiles = [canon(b["smiles"]) for b in DEFAULT_BLOCKS]
    dupes = [s for s, n in Counter(smiles).items() if n > 1]
    assert not dupes, f"fragments listed twice: {dupes}"
    assert len(default_lib.fragments) == len(DEFAULT_BLOCKS)
    assert {f.smiles for f in default_lib.fragments} == set(smiles)


def test_default_action_space_is_moderate(default_lib: BlockLibrary) -> None:
    assert all(len(s.attachments) <= 8 for s in default_lib.specs)
    anchors = sum(len(set(s.attachments)) for s in default_lib.specs)  # block types before merging
    assert anchors <= 250
    assert len(default_lib.fragments) <= default_lib.n_block_types <= anchors
    assert default_lib.n_initial == len(default_lib.fragments)


def test_default_fragments_are_not_joins_of_other_fragments(default_lib: BlockLibrary) -> None:
    """No fragment is two or more other fragments joined by single bonds at their attachment atoms
    (such a library builds one molecule as several block graphs).

    Known, accepted exception: trifluoromethyl (C(F)(F)F, attached by its carbon) alone is HCF3,
    which methylene (3 attachments) + 3 fluoro also builds; CF3 bonded to anything is unique, since
    methylene offers only three bonds."""
    assert joins_of_other_fragments(default_lib).keys() == {"trifluoromethyl"}


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([("C", [0, 0]), ("O", [0, 0]), ("CO", [0, 1])], {"CO"}),
        ([("C", [0, 0]), ("CC", [0, 1])], {"CC"}),
        ([("C", [0]), ("CCC", [0])], set()),  # the middle carbon would need two bonds
        ([("C", [0, 0]), ("CCC", [0])], {"CCC"}),
        ([("C", [0, 0, 0]), ("FC(F)F", [1]), ("F", [0])], {"FC(F)F"}),
        ([("C", [0, 0]), ("FC(F)F", [1]), ("F", [0])], set()),
        ([("c1ccccc1", [0]), ("C", [0]), ("Cc1ccccc1", [0])], {"Cc1ccccc1"}),  # any C, by symmetry
        ([("c1ccncc1", [0]), ("C", [0]), ("Cc1ccccn1", [0])], set()),  # pyridine offers C4 only
        ([("c1ccncc1", [0]), ("C", [0]), ("Cc1ccncc1", [0])], {"Cc1ccncc1"}),
        ([("C", [0, 0]), ("C1CC1", [0])], set()),  # ring bonds are never cut
    ],
)
def test_join_detector(blocks: list[tuple[str, list[int]]], expected: set[str]) -> None:
    lib = library_from_json([{"name": s, "smiles": s, "attachments": a} for s, a in blocks])
    assert joins_of_other_fragments(lib).keys() == expected


# ============================================================ content hash
def test_content_hash_ignores_block_order(default_lib: BlockLibrary) -> None:
    blocks = spec_dicts(default_lib)
    assert library_from_json(blocks[::-1]).content_hash == default_lib.content_hash
    random.Random(7).shuffle(blocks)
    assert library_from_json(blocks).content_hash == default_lib.content_hash


def test_content_hash_ignores_smiles_spelling() -> None:
    a = library_from_json(
        [
            {"name": "benzene", "smiles": "c1ccccc1", "attachments": [0, 1, 2, 3, 4, 5]},
            {"name": "pyridine", "smiles": "c1ccncc1", "attachments": [0, 1, 2, 4, 5]},
            {"name": "ethanol", "smiles": "CCO", "attachments": [0, 2]},
        ]
    )
    b = library_from_json(
        [
            {"name": "ethanol", "smiles": "OCC", "attachments": [2, 0]},
            {"name": "pyridine", "smiles": "n1ccccc1", "attachments": [1, 2, 3, 4, 5]},
            {"name": "benzene", "smiles": "C1=CC=CC=C1", "attachments": [5, 4, 3, 2, 1, 0]},
        ]
    )
    assert a.content_hash == b.content_hash


def test_content_hash_is_stable_across_processes(default_lib: BlockLibrary) -> None:
    code = "from gfn.chem.blocks import default_library; print(default_library().content_hash)"
    for seed in ("0", "12345"):
        env = os.environ | {"PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == default_lib.content_hash
    assert len(default_lib.content_hash) == 64
    int(default_lib.content_hash, 16)


def _named(blocks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(b for b in blocks if b["name"] == name)


def _drop_attachment(blocks: list[dict[str, Any]]) -> None:
    _named(blocks, "pyridine")["attachments"].pop()


def _add_attachment(blocks: list[dict[str, Any]]) -> None:
    _named(blocks, "methylene")["attachments"].append(0)


def _fewer_bonds_on_one_atom(blocks: list[dict[str, Any]]) -> None:
    _named(blocks, "methylene")["attachments"].pop()


def _other_smiles(blocks: list[dict[str, Any]]) -> None:
    block = _named(blocks, "naphthalene")
    block["smiles"], block["attachments"] = "c1ccc2c(c1)ccc1ccccc12", [0]  # phenanthrene


def _fewer_positions(blocks: list[dict[str, Any]]) -> None:
    _named(blocks, "benzene")["attachments"] = [0]


def _remove_block(blocks: list[dict[str, Any]]) -> None:
    blocks.remove(_named(blocks, "thio"))


def _add_block(blocks: list[dict[str, Any]]) -> None:
    blocks.append({"name": "iodo", "smiles": "I", "attachments": [0]})


def _block_twice(blocks: list[dict[str, Any]]) -> None:
    blocks.append({"name": "phenyl", "smiles": "c1ccccc1", "attachments": [0]})


@pytest.mark.parametrize(
    "change",
    [
        _drop_attachment,
        _add_attachment,
        _fewer_bonds_on_one_atom,
        _other_smiles,
        _fewer_positions,
        _remove_block,
        _add_block,
        _block_twice,
    ],
)
def test_content_hash_changes_with_content(
    default_lib: BlockLibrary, change: Callable[[list[dict[str, Any]]], None]
) -> None:
    blocks = spec_dicts(default_lib)
    change(blocks)
    assert library_from_json(blocks).content_hash != default_lib.content_hash


# ============================================================ JSON round trip
def _assert_same_library(a: BlockLibrary, b: BlockLibrary) -> None:
    assert a.content_hash == b.content_hash
    assert a.name == b.name
    assert a.fragments == b.fragments
    assert a.block_types == b.block_types
    assert a.initial_blocks == b.initial_blocks
    assert a.symmetries == b.symmetries


def test_to_json_round_trips_default(default_lib: BlockLibrary, write_json: Callable[..., Path]) -> None:
    data = json.loads(json.dumps(default_lib.to_json()))
    again = library_from_json(data)
    _assert_same_library(default_lib, again)
    assert again.to_json() == default_lib.to_json()
    assert data["format"] == OWN_FORMAT
    from_file = load_library(write_json(data))
    assert from_file.content_hash == default_lib.content_hash


def test_to_json_round_trips_anchored_blocks() -> None:
    lib = library_from_json(
        {
            "name": "anchored",
            "blocks": [
                {"name": "ethanol", "smiles": "OCC", "attachments": [0, 2], "anchor": 2},
                {"name": "benzene", "smiles": "C1=CC=CC=C1", "attachments": [0, 3]},
            ],
        }
    )
    again = library_from_json(json.loads(json.dumps(lib.to_json())))
    _assert_same_library(lib, again)
    assert again.to_json() == lib.to_json()


def test_original_format_round_trips_through_own_format(original_105_path: Path) -> None:
    lib = load_library(original_105_path)
    again = library_from_json(json.loads(json.dumps(lib.to_json())), name=lib.name)
    assert again.content_hash == lib.content_hash
    assert again.block_types == lib.block_types
    assert again.initial_blocks == lib.initial_blocks


# ============================================================ the original GFlowNet format
def test_original_105_block_library_loads(original_105_path: Path) -> None:
    lib = load_library(original_105_path)
    assert lib.format == "gflownet-original"
    assert lib.name == "blocks_PDB_105"
    assert lib.n_block_types == 105
    assert len(lib.fragments) < 105  # rows sharing a SMILES are block types of one fragment
    raw = json.loads(original_105_path.read_text())
    assert {f.smiles for f in lib.fragments} == {canon(s) for s in raw["block_smi"].values()}
    for t in lib.block_types:
        mol = lib.fragment_mol(t.fragment)
        assert 0 <= t.anchor < mol.GetNumAtoms()


def test_original_format_inline() -> None:
    data = {
        "block_name": {"0": "c1ccccc1_0", "1": "CO_0", "2": "CO_1", "10": "c1ccccc1_1"},
        "block_smi": {"0": "c1ccccc1", "1": "CO", "2": "CO", "10": "c1ccccc1"},
        "block_r": {"0": [0, 1, 2, 3, 4, 5], "1": [0, 1], "2": [1, 0], "10": [3, 0]},
    }
    lib = library_from_json(data, name="tiny")
    assert lib.format == "gflownet-original"
    assert len(lib.fragments) == 2 and lib.n_block_types == 4
    assert [t.name for t in lib.block_types] == ["c1ccccc1_0", "CO_0", "CO_1", "c1ccccc1_1"]
    benzene = sorted((t for t in lib.block_types if t.fragment == 0), key=lambda t: len(t.stems))
    assert [len(t.stems) for t in benzene] == [1, 5]
    para = Chem.GetDistanceMatrix(lib.fragment_mol(0))
    assert para[benzene[0].anchor][benzene[0].stems[0]] == 3  # row 10: anchor 3, stem 0
    assert benzene[1].anchor not in benzene[1].stems


# ============================================================ BRICS
@pytest.fixture(scope="module")
def brics_lib() -> BlockLibrary:
    return from_molecules(DRUGS.values(), name="drugs")


def test_brics_library_fragments_sanitize_and_have_attachments(brics_lib: BlockLibrary) -> None:
    assert brics_lib.name == "drugs"
    assert len(brics_lib.fragments) >= 10
    for spec in brics_lib.specs:
        mol = Chem.MolFromSmiles(spec.smiles)
        assert mol is not None, spec
        assert len(Chem.GetMolFrags(mol)) == 1
        assert all(a.GetAtomicNum() > 0 and a.GetIsotope() == 0 for a in mol.GetAtoms()), spec
        assert spec.attachments, spec
        for idx, count in Counter(spec.attachments).items():
            assert count <= free_valence(mol.GetAtomWithIdx(idx)), spec
    for block in brics_lib.initial_blocks:
        assert block.stems
    smiles = {f.smiles for f in brics_lib.fragments}
    assert canon("c1ccccc1") in smiles
    assert canon("C1COCCN1") in smiles  # gefitinib's morpholine
    # the derived library survives its own format
    assert library_from_json(brics_lib.to_json()).content_hash == brics_lib.content_hash


def test_brics_min_atoms() -> None:
    lib = from_molecules(DRUGS.values(), min_atoms=4)
    assert all(f.n_atoms >= 4 for f in lib.fragments)


def test_brics_is_deterministic(brics_lib: BlockLibrary) -> None:
    assert from_molecules(reversed(list(DRUGS.values()))).content_hash == brics_lib.content_hash


def test_brics_stereocentre_attachment_keeps_its_hydrogen() -> None:
    lib = from_molecules(["CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"])
    for f in range(len(lib.fragments)):
        assert all(a.GetNumRadicalElectrons() == 0 for a in lib.fragment_mol(f).GetAtoms()), lib.fragments[f]


def test_brics_keeps_n_linked_aromatic_rings() -> None:
    lib = from_molecules(["c1ccc(-n2ccnc2)cc1"])
    assert canon("c1c[nH]cn1") in {f.smiles for f in lib.fragments}


# ============================================================ bad input
GOOD = {"name": "benzene", "smiles": "c1ccccc1", "attachments": [0, 1, 2, 3, 4, 5]}

BAD_BLOCKS = [
    # (id, bad block placed second, substrings of the message)
    ("unparsable-smiles", {"name": "broken", "smiles": "C1CC", "attachments": [0]}, ["does not parse"]),
    ("garbage-smiles", {"name": "broken", "smiles": "not a smiles", "attachments": [0]}, ["does not parse"]),
    ("bad-valence-smiles", {"name": "broken", "smiles": "C(C)(C)(C)(C)C", "attachments": [0]}, ["sanitize"]),
    ("empty-smiles", {"name": "broken", "smiles": "", "attachments": [0]}, ["empty SMILES"]),
    (
        "index-out-of-range",
        {"name": "broken", "smiles": "CO", "attachments": [2]},
        ["out of range", "2 atoms"],
    ),
    ("negative-index", {"name": "broken", "smiles": "CO", "attachments": [-1]}, ["out of range"]),
    ("no-free-valence", {"name": "broken", "smiles": "C(C)(C)(C)C", "attachments": [0]}, ["free valence"]),
    ("aromatic-n-no-h", {"name": "broken", "smiles": "c1ccncc1", "attachments": [3]}, ["atom 3 (N)"]),
    (
        "too-many-on-one-atom",
        {"name": "broken", "smiles": "O", "attachments": [0, 0, 0]},
        ["3 attachment(s)", "only 2 free valence"],
    ),
    ("no-attachments", {"name": "broken", "smiles": "CC", "attachments": []}, ["at least one attachment"]),
    ("disconnected", {"name": "broken", "smiles": "CC.O", "attachments": [0]}, ["disconnected"]),
    ("duplicate", dict(GOOD, name="broken"), ["duplicate of block 'benzene'"]),
    (
        "duplicate-other-spelling",
        {"name": "broken", "smiles": "C1=CC=CC=C1", "attachments": [5, 4, 3, 2, 1, 0]},
        ["duplicate of block 'benzene'"],
    ),
    (
        "anchor-not-attachment",
        {"name": "broken", "smiles": "CC", "attachments": [0], "anchor": 1},
        ["anchor"],
    ),
]

BAD_READER = [
    # reader-level errors name the block by its position only
    (
        "unknown-field",
        {"name": "broken", "smiles": "C", "attachments": [0], "colour": "red"},
        ["unknown", "colour"],
    ),
    ("attachments-int", {"name": "broken", "smiles": "C", "attachments": 0}, ["must be a list"]),
    ("attachments-str", {"name": "broken", "smiles": "CC", "attachments": "0,1"}, ["must be a list"]),
    ("attachments-dict", {"name": "broken", "smiles": "C", "attachments": {"0": 1}}, ["must be a list"]),
    ("attachments-float", {"name": "broken", "smiles": "C", "attachments": [0.0]}, ["must be a list"]),
    ("attachments-bool", {"name": "broken", "smiles": "C", "attachments": [True]}, ["must be a list"]),
    (
        "anchor-not-int",
        {"name": "broken", "smiles": "C", "attachments": [0], "anchor": "0"},
        ["anchor must be"],
    ),
    ("missing-attachments", {"name": "broken", "smiles": "C"}, ["needs 'smiles' and 'attachments'"]),
    ("missing-smiles", {"name": "broken", "attachments": [0]}, ["needs 'smiles' and 'attachments'"]),
    ("not-an-object", "c1ccccc1", ["must be an object"]),
]


@pytest.mark.parametrize(("bad", "reason"), [c[1:] for c in BAD_BLOCKS], ids=[c[0] for c in BAD_BLOCKS])
def test_bad_block_names_fragment_and_reason(bad: dict[str, Any], reason: list[str]) -> None:
    with pytest.raises(LibraryError) as info:
        library_from_json({"blocks": [GOOD, bad]})
    msg = str(info.value)
    assert info.value.field.startswith("blocks[1] (broken)"), msg
    for part in reason:
        assert part in msg, msg


@pytest.mark.parametrize(("bad", "reason"), [c[1:] for c in BAD_READER], ids=[c[0] for c in BAD_READER])
def test_bad_block_field_names_position_and_reason(bad: Any, reason: list[str]) -> None:
    with pytest.raises(LibraryError) as info:
        library_from_json({"blocks": [GOOD, bad]})
    msg = str(info.value)
    assert info.value.field == "blocks[1]", msg
    for part in reason:
        assert part in msg, msg


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"blocks": []}, "blocks", "at least one block"),
        ([], "blocks", "at least one block"),
        ({"name": "x", "blocks": {"0": GOOD}}, "blocks", "must be a list"),
        ({"name": "x"}, "library", "expected"),
        (42, "library", "expected"),
        ("c1ccccc1", "library", "expected"),
        ({"block_smi": {"0": "C"}, "block_r": {}}, "row 0", "no block_r"),
        ({"block_smi": {"0": "C"}, "block_r": {"0": []}}, "row 0", "block_r is empty"),
        ({"block_smi": {"0": "C"}, "block_r": {"0": "0"}}, "row 0", "must be a list"),
        ({"block_smi": ["C"], "block_r": [[0]]}, "library", "must be objects"),
        (
            {"block_name": {"0": "bad"}, "block_smi": {"0": "C1C"}, "block_r": {"0": [0]}},
            "blocks[0] (bad)",
            "parse",
        ),
        ({"block_smi": {"0": "C"}, "block_r": {"0": [4]}}, "blocks[0] (C)", "out of range"),
    ],
    ids=[
        "empty-library",
        "empty-list",
        "blocks-not-list",
        "no-blocks-key",
        "number",
        "string",
        "original-row-without-r",
        "original-empty-r",
        "original-r-not-list",
        "original-columns-not-objects",
        "original-bad-smiles",
        "original-r-out-of-range",
    ],
)
def test_bad_library(data: Any, field: str, reason: str) -> None:
    with pytest.raises(LibraryError) as info:
        library_from_json(data)
    assert info.value.field == field
    assert reason in info.value.reason


def test_block_library_constructor_validates() -> None:
    with pytest.raises(LibraryError, match="at least one block"):
        BlockLibrary([])
    with pytest.raises(LibraryError, match=r"blocks\[0\] \(ethyl\).*out of range"):
        BlockLibrary([BlockSpec(name="ethyl", smiles="CC", attachments=(5,))])


def test_library_error_is_a_gfn_value_error() -> None:
    with pytest.raises(ValueError) as info:
        library_from_json([{"name": "neo", "smiles": "C(C)(C)(C)C", "attachments": [0]}])
    err = info.value
    assert isinstance(err, LibraryError) and isinstance(err, GfnError)
    assert str(err) == f"{err.field}: {err.reason}"
    assert err.field == "blocks[0] (neo)"


# ------------------------------------------------------------------- files
def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(LibraryError) as info:
        load_library(path)
    assert info.value.field == "library"
    assert "no such file" in info.value.reason and str(path) in info.value.reason


def test_directory_is_not_a_library(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no such file"):
        load_library(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b'{"blocks": [', b"\xff\xfe\x00garbage"],
    ids=["brace", "empty", "cut", "bytes"],
)
def test_invalid_json_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(LibraryError) as info:
        load_library(path)
    assert info.value.field == "library"
    assert "not valid JSON" in info.value.reason and str(path) in info.value.reason


def test_bad_block_in_file_names_it(write_json: Callable[..., Path]) -> None:
    neo = {"name": "neo", "smiles": "C(C)(C)(C)C", "attachments": [0]}
    path = write_json({"format": OWN_FORMAT, "name": "mine", "blocks": [GOOD, neo]})
    with pytest.raises(LibraryError, match=r"blocks\[1\] \(neo\).*free valence"):
        load_library(path)


def test_file_library_takes_its_name(write_json: Callable[..., Path]) -> None:
    assert load_library(write_json([GOOD])).name.startswith("lib")
    assert load_library(write_json({"name": "mine", "blocks": [GOOD]})).name == "mine"


# ------------------------------------------------------------------- BRICS input
@pytest.mark.parametrize(
    ("smiles", "field", "reason"),
    [
        (["CCO", "C1CC"], "smiles[1]", "does not parse"),
        (["not a molecule"], "smiles[0]", "does not parse"),
        (["C"], "smiles", "BRICS found no fragments"),
        ([], "smiles", "BRICS found no fragments"),
    ],
    ids=["unclosed-ring", "garbage", "no-brics-bonds", "no-molecules"],
)
def test_brics_bad_input(smiles: list[str], field: str, reason: str) -> None:
    with pytest.raises(LibraryError) as info:
        from_molecules(smiles)
    assert info.value.field == field
    assert reason in info.value.reason


def test_aromatic_sulfur_is_not_an_attachment_atom() -> None:
    assert Chem.MolFromSmiles("Cs1cccc1") is None  # what attaching there would build
    with pytest.raises(LibraryError):
        library_from_json([{"name": "thiophene", "smiles": "c1ccsc1", "attachments": [3]}])
