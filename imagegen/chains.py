"""Chains of edits (issue 32): a result edited again, that version edited again, and so on.

Every version links to the result it was made from (`parent`) and to the chain's first picture
(`chain_root`, null on the first picture itself). These are the reads over those links: the
chain of a version (its ancestors, its children, the branch it is on), how long a chain is,
which image an edit again starts from and the instructions an edit "from the original" sends.
Reads only: the writes are in services/chains.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from .models import Generation, GenerationTask

# How the instructions of a chain are joined for an edit from the original.
INSTRUCTION_SEPARATOR = "; "


@dataclass(frozen=True)
class Chain:
    """A version's chain: `ancestors` from the first picture to its parent, `children` made
    from it, `branch` the versions it is on from the first picture down to the newest end
    (each time the newest child), `members` every version, oldest first."""

    generation: Generation
    root: Generation
    ancestors: list[Generation]
    children: list[Generation]
    branch: list[Generation]
    members: list[Generation]

    @property
    def is_chain(self) -> bool:
        return len(self.members) > 1


def root_id_of(generation: Generation):
    """The id of the first picture of the generation's chain (its own when it is the first)."""
    return generation.chain_root_id or generation.pk


def members_of(generation: Generation) -> list[Generation]:
    """Every version of the generation's chain, oldest first, in one query."""
    root_id = root_id_of(generation)
    return list(
        Generation.objects.filter(
            Q(pk=root_id) | Q(chain_root_id=root_id), owner_id=generation.owner_id
        ).order_by("created_at")
    )


def path_to(generation: Generation, members: list[Generation]) -> list[Generation]:
    """The versions from the first picture down to `generation` itself, following parents."""
    by_id = {member.pk: member for member in members}
    path, current = [], by_id.get(generation.pk, generation)
    while current is not None and len(path) <= len(members):
        path.append(current)
        current = by_id.get(current.parent_id)
    return path[::-1]


def chain_of(generation: Generation) -> Chain:
    """The generation's chain (see Chain): one query for the whole of it."""
    members = members_of(generation)
    by_id = {member.pk: member for member in members}
    generation = by_id.get(generation.pk, generation)
    path = path_to(generation, members)
    children_of: dict = {}
    for member in members:
        children_of.setdefault(member.parent_id, []).append(member)
    branch, current = list(path), generation
    while children_of.get(current.pk) and len(branch) < len(members):
        current = children_of[current.pk][-1]
        branch.append(current)
    return Chain(
        generation=generation,
        root=path[0],
        ancestors=path[:-1],
        children=children_of.get(generation.pk, []),
        branch=branch,
        members=members,
    )


def length_with(parent: Generation) -> int:
    """How many pictures a chain has from its first down to a new version of `parent`."""
    return len(path_to(parent, members_of(parent))) + 1


def starts_from_photo(generation: Generation) -> bool:
    """True when a chained edit starts from an uploaded photo: an edit from the original
    whose first picture was itself an edit of a photo."""
    return generation.from_original and generation.chain_root.task == GenerationTask.EDIT


def source_result(generation: Generation) -> Generation | None:
    """The result whose stored image a chained edit starts from: its parent, or with
    `from_original` the chain's first picture; None when the edit is not chained, starts
    from a photo, or the result was deleted since."""
    if generation.chain_root_id is None or starts_from_photo(generation):
        return None
    return generation.chain_root if generation.from_original else generation.parent


def edits_a_result(generation: Generation) -> bool:
    """True for a chained edit that starts from a stored result rather than a photo."""
    return generation.chain_root_id is not None and not starts_from_photo(generation)


def joined_instructions(generation: Generation, instruction: str) -> str:
    """What an edit from the original asks: the chain's instructions from the first photo
    down to its parent, then its own (each as sent: in English where it was translated).

    A first picture from words or a try-on is where the chain starts, so its prompt is not
    an instruction; a version that was itself made from the original contributes only its own
    instruction, as each one does."""
    path = path_to(generation.parent, members_of(generation.parent)) if generation.parent else []
    words = [
        version.prompt_en or version.prompt
        for version in path
        if version.task == GenerationTask.EDIT
    ]
    return INSTRUCTION_SEPARATOR.join([*words, instruction])
