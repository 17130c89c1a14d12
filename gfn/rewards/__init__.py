"""Rewards: declarative specs, their components, and the composed reward function.

* :mod:`gfn.rewards.spec` — pydantic models (:class:`RewardSpec`) and :func:`parse_reward_spec`; no
  torch or RDKit at import, so the API process can validate specs.
* :mod:`gfn.rewards.components` — RDKit descriptors, similarity, substructure and filter checks.
* :mod:`gfn.rewards.transforms` — raw value -> score maps (REINVENT 4 conventions).
* :mod:`gfn.rewards.seh_proxy` — the pretrained sEH proxy in numpy.
* :mod:`gfn.rewards.proxy` — user-trained MPNN proxies (the only module here that imports torch).
* :mod:`gfn.rewards.compose` — :func:`build_reward` / :func:`score_smiles` -> :class:`ScoredMolecule`.

Nothing is imported here, so importing the package stays cheap.
"""
