"""Block libraries: fragments with attachment atoms, the vocabulary of the block MDP.

A *fragment* is a small molecule (canonical SMILES, canonical atom order). A library offers
fragments through two kinds of entries, which is what the MDP acts with:

- a :class:`BlockType` — "attach fragment f by its atom ``anchor`` to a free stem; this opens
  ``stems``": one forward action per free stem;
- an :class:`InitialBlock` — "place fragment f as the first block with all of ``stems`` free".

The project's own format lists blocks with an attachment multiset; any attachment atom may be the
anchor. The original GFlowNet format (``block_name``, ``block_smi``, ``block_r``) fixes the anchor
to ``block_r[0]``; rows with the same SMILES become block types of one fragment. Inter-block bonds are
single bonds between the two attachment atoms, each of which loses one hydrogen.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from rdkit import Chem, RDLogger
from rdkit.Chem import BRICS

from gfn.errors import LibraryError

OWN_FORMAT = "molgfn-blocks/1"


@dataclass(frozen=True)
class Fragment:
    """A distinct fragment; atom ``i`` is atom ``i`` of ``Chem.MolFromSmiles(smiles)``."""

    smiles: str
    name: str
    n_atoms: int


@dataclass(frozen=True)
class BlockType:
    """Attach ``fragment`` by atom ``anchor`` to a free stem, opening ``stems`` (sorted multiset)."""

    index: int
    fragment: int
    anchor: int
    stems: tuple[int, ...]
    name: str


@dataclass(frozen=True)
class InitialBlock:
    """Place ``fragment`` as the first block with the free stems ``stems`` (sorted multiset)."""

    index: int
    fragment: int
    stems: tuple[int, ...]
    name: str


@dataclass(frozen=True)
class BlockSpec:
    """One library entry as a user writes it: SMILES plus attachment atoms (repeat = more bonds)."""

    name: str
    smiles: str
    attachments: tuple[int, ...]
    anchor: int | None = None  # original format: the only atom that may join a parent


def _canonicalize(spec: BlockSpec, where: str) -> tuple[str, Chem.Mol, list[int]]:
    """Parse and validate one entry; return canonical SMILES, its mol and the old→new atom map."""
    if not spec.smiles or not isinstance(spec.smiles, str):
        raise LibraryError(where, "empty SMILES")
    mol = Chem.MolFromSmiles(spec.smiles)
    if mol is None:
        raise LibraryError(where, f"SMILES {spec.smiles!r} does not parse or sanitize")
    if mol.GetNumAtoms() == 0:
        raise LibraryError(where, "fragment has no atoms")
    if len(Chem.GetMolFrags(mol)) != 1:
        raise LibraryError(where, f"SMILES {spec.smiles!r} has several disconnected parts")
    if not spec.attachments:
        raise LibraryError(where, "a block needs at least one attachment atom")
    n = mol.GetNumAtoms()
    for a in spec.attachments:
        if not isinstance(a, int) or isinstance(a, bool) or not 0 <= a < n:
            raise LibraryError(where, f"attachment atom {a!r} is out of range (fragment has {n} atoms)")
    for atom_idx, count in Counter(spec.attachments).items():
        atom = mol.GetAtomWithIdx(atom_idx)
        free = free_valence(atom)
        if count > free:
            raise LibraryError(
                where,
                f"atom {atom_idx} ({atom.GetSymbol()}) offers {count} attachment(s) "
                f"but has only {free} free valence (hydrogens)",
            )
    smiles = Chem.MolToSmiles(mol)
    order = list(map(int, mol.GetProp("_smilesAtomOutputOrder").strip("[],").split(",")))
    old_to_new = [0] * n
    for new, old in enumerate(order):
        old_to_new[old] = new
    canon = Chem.MolFromSmiles(smiles)
    assert canon is not None and canon.GetNumAtoms() == n
    return smiles, canon, old_to_new


def free_valence(atom: Chem.Atom) -> int:
    """Bonds an atom can still form: its hydrogens, plus unused valence of neutral atoms that allow
    more (O=PO: P may go to valence 5, as in the original library)."""
    hs = int(atom.GetTotalNumHs())
    if atom.GetFormalCharge() != 0 or atom.GetIsAromatic():
        return hs
    valences = [v for v in Chem.GetPeriodicTable().GetValenceList(atom.GetAtomicNum()) if v > 0]
    spare = max(valences, default=0) - int(atom.GetTotalValence())
    return hs + max(0, spare)


def _automorphisms(mol: Chem.Mol) -> list[tuple[int, ...]]:
    matches = mol.GetSubstructMatches(mol, uniquify=False, useChirality=False, maxMatches=100_000)
    return [tuple(m) for m in matches] or [tuple(range(mol.GetNumAtoms()))]


class BlockLibrary:
    """An immutable, validated block library with a stable content hash."""

    def __init__(self, specs: Sequence[BlockSpec], name: str = "library", *, fmt: str = OWN_FORMAT) -> None:
        if not specs:
            raise LibraryError("blocks", "a library needs at least one block")
        self.name = name
        self.format = fmt
        self.specs = tuple(specs)
        frag_index: dict[str, int] = {}
        frags: list[Fragment] = []
        self._mols: list[Chem.Mol] = []
        types: dict[tuple[int, int, tuple[int, ...]], str] = {}
        initials: dict[tuple[int, tuple[int, ...]], str] = {}
        seen_specs: dict[tuple[str, tuple[int, ...], int | None], str] = {}
        for i, spec in enumerate(specs):
            where = f"blocks[{i}] ({spec.name or spec.smiles})"
            smiles, mol, remap = _canonicalize(spec, where)
            if spec.anchor is not None and spec.anchor not in spec.attachments:
                raise LibraryError(where, f"anchor atom {spec.anchor} is not one of its attachments")
            attach = tuple(sorted(remap[a] for a in spec.attachments))
            anchor = None if spec.anchor is None else remap[spec.anchor]
            dup_key = (smiles, attach, anchor)
            if dup_key in seen_specs:
                raise LibraryError(where, f"duplicate of block {seen_specs[dup_key]!r}")
            seen_specs[dup_key] = spec.name or smiles
            if smiles not in frag_index:
                frag_index[smiles] = len(frags)
                frags.append(Fragment(smiles=smiles, name=spec.name or smiles, n_atoms=mol.GetNumAtoms()))
                self._mols.append(mol)
            f = frag_index[smiles]
            initials.setdefault((f, attach), spec.name or smiles)
            anchors = sorted(set(attach)) if anchor is None else [anchor]
            for a in anchors:
                rest = list(attach)
                rest.remove(a)
                label = spec.name or smiles
                if anchor is None and len(anchors) > 1:
                    label = f"{label}@{a}"
                types.setdefault((f, a, tuple(rest)), label)
        self.fragments: tuple[Fragment, ...] = tuple(frags)
        self.symmetries: tuple[tuple[tuple[int, ...], ...], ...] = tuple(
            self._library_symmetries(f, set(types), set(initials)) for f in range(len(frags))
        )
        # Entries that a library symmetry maps onto each other always give isomorphic states: keep
        # one representative each (fewer, never-equivalent actions) and index every member to it.
        self.type_index: dict[tuple[int, int, tuple[int, ...]], int] = {}
        block_types: list[BlockType] = []
        for (f, a, st), label in types.items():
            if (f, a, st) in self.type_index:
                continue
            j = len(block_types)
            block_types.append(BlockType(index=j, fragment=f, anchor=a, stems=st, name=label))
            for g in self.symmetries[f]:
                self.type_index[(f, g[a], tuple(sorted(g[x] for x in st)))] = j
        self.block_types: tuple[BlockType, ...] = tuple(block_types)
        self.initial_index: dict[tuple[int, tuple[int, ...]], int] = {}
        initial_blocks: list[InitialBlock] = []
        for (f, st), label in initials.items():
            if (f, st) in self.initial_index:
                continue
            j = len(initial_blocks)
            initial_blocks.append(InitialBlock(index=j, fragment=f, stems=st, name=label))
            for g in self.symmetries[f]:
                self.initial_index[(f, tuple(sorted(g[x] for x in st)))] = j
        self.initial_blocks: tuple[InitialBlock, ...] = tuple(initial_blocks)

    def _library_symmetries(
        self,
        f: int,
        types: set[tuple[int, int, tuple[int, ...]]],
        initials: set[tuple[int, tuple[int, ...]]],
    ) -> tuple[tuple[int, ...], ...]:
        """Automorphisms of fragment f that map its block types and initial blocks onto themselves.

        Only these may identify two states: a chemical symmetry that maps a stem onto an atom the
        library never offers would merge states with different futures.
        """
        own_types = {(a, st) for (ff, a, st) in types if ff == f}
        own_init = {st for (ff, st) in initials if ff == f}
        keep = []
        for g in _automorphisms(self._mols[f]):
            types_ok = all((g[a], tuple(sorted(g[s] for s in st))) in own_types for a, st in own_types)
            init_ok = all(tuple(sorted(g[s] for s in st)) in own_init for st in own_init)
            if types_ok and init_ok:
                keep.append(g)
        return tuple(sorted(set(keep)))

    # ----------------------------------------------------------------- accessors
    def fragment_mol(self, f: int) -> Chem.Mol:
        """The RDKit molecule of fragment ``f`` (do not modify)."""
        return self._mols[f]

    @property
    def n_block_types(self) -> int:
        return len(self.block_types)

    @property
    def n_initial(self) -> int:
        return len(self.initial_blocks)

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the canonical block definitions: equal for equal libraries, whatever the order."""
        rows = sorted(
            json.dumps(["T", self.fragments[f].smiles, a, list(st)]) for f, a, st in self.type_index
        ) + sorted(json.dumps(["I", self.fragments[f].smiles, list(st)]) for f, st in self.initial_index)
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The project's own format (round-trips through :func:`load_library`)."""
        return {
            "format": self.format,
            "name": self.name,
            "blocks": [
                {"name": s.name, "smiles": s.smiles, "attachments": list(s.attachments)}
                | ({} if s.anchor is None else {"anchor": s.anchor})
                for s in self.specs
            ],
        }

    def __repr__(self) -> str:
        return (
            f"BlockLibrary({self.name!r}: {len(self.fragments)} fragments, {self.n_block_types} block types, "
            f"{self.n_initial} initial blocks)"
        )


# --------------------------------------------------------------------- readers
def _as_int_list(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise LibraryError(where, f"attachments must be a list of atom indices, got {value!r}")
    return tuple(value)


def library_from_json(data: Mapping[str, Any] | Sequence[Any], name: str = "library") -> BlockLibrary:
    """Build a library from parsed JSON in either supported format."""
    if isinstance(data, Mapping) and {"block_smi", "block_r"} <= set(data):
        return _from_original(data, name)
    if isinstance(data, Mapping) and "blocks" in data:
        blocks = data["blocks"]
        name = str(data.get("name", name))
    elif isinstance(data, list):
        blocks = data
    else:
        raise LibraryError("library", "expected {'blocks': [...]} or the original format with block_smi and block_r")
    if not isinstance(blocks, list):
        raise LibraryError("blocks", "must be a list")
    specs = []
    for i, b in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(b, Mapping):
            raise LibraryError(where, "each block must be an object with smiles and attachments")
        unknown = set(b) - {"name", "smiles", "attachments", "anchor"}
        if unknown:
            raise LibraryError(where, f"unknown field(s) {sorted(unknown)}")
        if "smiles" not in b or "attachments" not in b:
            raise LibraryError(where, "needs 'smiles' and 'attachments'")
        anchor = b.get("anchor")
        if anchor is not None and (not isinstance(anchor, int) or isinstance(anchor, bool)):
            raise LibraryError(where, f"anchor must be an atom index, got {anchor!r}")
        specs.append(
            BlockSpec(
                name=str(b.get("name") or b["smiles"]),
                smiles=str(b["smiles"]),
                attachments=_as_int_list(b["attachments"], where),
                anchor=anchor,
            )
        )
    return BlockLibrary(specs, name=name)


def _from_original(data: Mapping[str, Any], name: str) -> BlockLibrary:
    """The original GFlowNet block format: columns of row-index → value; anchor is block_r[0]."""
    smi, rs = data["block_smi"], data["block_r"]
    names = data.get("block_name", {})
    if not isinstance(smi, Mapping) or not isinstance(rs, Mapping):
        raise LibraryError("library", "block_smi and block_r must be objects keyed by row index")
    specs = []
    for row in sorted(smi, key=lambda k: int(k) if str(k).isdigit() else str(k)):
        where = f"row {row}"
        if row not in rs:
            raise LibraryError(where, "has block_smi but no block_r")
        r = _as_int_list(rs[row], where)
        if not r:
            raise LibraryError(where, "block_r is empty")
        specs.append(BlockSpec(name=str(names.get(row, smi[row])), smiles=str(smi[row]), attachments=r, anchor=r[0]))
    return BlockLibrary(specs, name=name, fmt="gflownet-original")


def load_library(source: str | Path) -> BlockLibrary:
    """``"default"`` → the shipped library; otherwise a JSON file in either format."""
    if str(source) == "default":
        return default_library()
    path = Path(source)
    if not path.is_file():
        raise LibraryError("library", f"no such file: {path}")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LibraryError("library", f"{path} is not valid JSON ({exc})") from exc
    return library_from_json(data, name=path.stem)


def default_library() -> BlockLibrary:
    """The library shipped with molgfn (gfn/data/default_blocks.json)."""
    text = resources.files("gfn").joinpath("data/default_blocks.json").read_text()
    return library_from_json(json.loads(text), name="default")


def _brics_specs(smiles: Iterable[str], min_atoms: int) -> dict[tuple[str, tuple[int, ...]], BlockSpec]:
    frags: set[str] = set()
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise LibraryError(f"smiles[{i}]", f"{s!r} does not parse")
        frags.update(BRICS.BRICSDecompose(mol))
    specs: dict[tuple[str, tuple[int, ...]], BlockSpec] = {}
    for frag in sorted(frags):
        mol = Chem.MolFromSmiles(frag)
        if mol is None:
            continue
        rw = Chem.RWMol(mol)
        attach_old: list[int] = []
        dummies = [a.GetIdx() for a in rw.GetAtoms() if a.GetAtomicNum() == 0]
        for d in dummies:
            for nbr in rw.GetAtomWithIdx(d).GetNeighbors():
                attach_old.append(nbr.GetIdx())
                # the bond to the dummy becomes a hydrogen again (bracket and aromatic atoms too)
                nbr.SetNumExplicitHs(nbr.GetNumExplicitHs() + 1)
        for a in rw.GetAtoms():
            a.SetIsotope(0)
        for d in sorted(dummies, reverse=True):
            rw.RemoveAtom(d)
        attach = [a - sum(1 for d in dummies if d < a) for a in attach_old]
        core = rw.GetMol()
        try:
            Chem.SanitizeMol(core)
        except Exception:  # noqa: BLE001 - RDKit raises several types; skip unsanitizable fragments
            continue
        Chem.RemoveStereochemistry(core)
        if core.GetNumAtoms() < min_atoms or not attach:
            continue
        core_smi = Chem.MolToSmiles(core, canonical=False)
        reparsed = Chem.MolFromSmiles(core_smi)
        if reparsed is None:
            continue
        order = list(map(int, core.GetProp("_smilesAtomOutputOrder").strip("[],").split(",")))
        pos = {old: new for new, old in enumerate(order)}
        attach_new = tuple(sorted(pos[a] for a in attach))
        if any(c > free_valence(reparsed.GetAtomWithIdx(a)) for a, c in Counter(attach_new).items()):
            continue
        key = (Chem.MolToSmiles(reparsed), attach_new)
        if key not in specs:
            specs[key] = BlockSpec(name=frag, smiles=core_smi, attachments=attach_new)
    return specs


def from_molecules(smiles: Iterable[str], name: str = "brics", min_atoms: int = 1) -> BlockLibrary:
    """Derive a library from molecules with RDKit's BRICS: each fragment's dummy atoms become
    attachments on the atom they were bonded to."""
    if isinstance(smiles, str):
        smiles = [smiles]
    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]
    try:
        specs = _brics_specs(smiles, min_atoms)
    finally:
        RDLogger.EnableLog("rdApp.*")  # type: ignore[attr-defined]
    if not specs:
        raise LibraryError("smiles", "BRICS found no fragments with attachment points in these molecules")
    # two spellings of one fragment can still canonicalize alike: let the library dedupe them
    unique: dict[tuple[str, tuple[int, ...]], BlockSpec] = {}
    for spec in specs.values():
        smiles_c, _, remap = _canonicalize(spec, spec.name)
        unique.setdefault((smiles_c, tuple(sorted(remap[a] for a in spec.attachments))), spec)
    return BlockLibrary(list(unique.values()), name=name)
