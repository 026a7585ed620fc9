"""The agency tree (`Agency.parent_code`): a unit and every unit below it.

A client's or a staff user's agencies mean their subtrees (DESIGN.md, "The agency tree"),
and every report rolls a unit's subtree up. The tree is walked level by level with one
query per level (`parent_code IN (…)`), keeping the codes already seen, so a cycle in the
catalog (A under B under A) ends the walk instead of looping for ever; the catalog refuses
an agency that is its own parent, but a longer cycle can still be imported piece by piece.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.models import Agency

# parameters per IN (…); SQLite's limit is 32 766, PostgreSQL's 65 535
_CHUNK = 500


def _chunks(codes: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(codes), _CHUNK):
        yield codes[start:start + _CHUNK]


def children_of(session: Session, parents: Iterable[str]) -> dict[str, list[str]]:
    """The direct children of each of `parents`, in code order (parents without any are
    left out)."""
    found: dict[str, list[str]] = {}
    wanted = sorted(set(parents))
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(Agency.parent_code, Agency.code)
            .where(Agency.parent_code.in_(chunk))
            .order_by(Agency.code)
        ).all()
        for parent, code in rows:
            if parent is not None:
                found.setdefault(parent, []).append(code)
    return found


def subtree_codes(session: Session, roots: Iterable[str]) -> set[str]:
    """The given agency codes and every agency below them (cycle-safe).

    The roots are kept even when the catalog does not know them (a client may act for an
    agency recorded bare, or not recorded at all)."""
    seen = set(roots)
    frontier = set(seen)
    while frontier:
        children = children_of(session, frontier)
        frontier = {code for kids in children.values() for code in kids} - seen
        seen |= frontier
    return seen


def depth(session: Session, code: str) -> int:
    """The unit's depth in the tree: 1 for an agency without a parent (or an unknown
    code, or a parent the catalog does not know), 2 for its children, and so on. A cycle
    counts each unit of it once."""
    level = 1
    seen = {code}
    current = code
    while True:
        parent = session.scalar(select(Agency.parent_code).where(Agency.code == current))
        if parent is None or parent in seen:
            return level
        exists = session.scalar(select(Agency.code).where(Agency.code == parent))
        if exists is None:
            return level
        seen.add(parent)
        level += 1
        current = parent


@dataclass
class Unit:
    """One unit of a tree walk: its place and the codes of its whole subtree."""

    code: str
    name: str
    parent_code: str | None
    level: int
    subtree: set[str] = field(default_factory=set)


def units(session: Session, roots: Iterable[str]) -> list[Unit]:
    """Every unit of the roots' subtrees, each once, depth first in code order (a root
    that lies below another root appears once, under it), with its `level` (depth in the
    whole catalog, 1 for no parent) and the codes of its own subtree."""
    root_list = sorted(set(roots))
    codes = subtree_codes(session, root_list)
    names: dict[str, tuple[str, str | None]] = {}
    ordered = sorted(codes)
    for chunk in _chunks(ordered):
        for code, name, parent in session.execute(
            select(Agency.code, Agency.name, Agency.parent_code).where(Agency.code.in_(chunk))
        ).all():
            names[code] = (name or code, parent)
    children: dict[str, list[str]] = {}
    for code in ordered:
        parent = names.get(code, (code, None))[1]
        if parent is not None and parent in codes and parent != code:
            children.setdefault(parent, []).append(code)
    root_set = set(root_list)
    # roots below no other root first; a root inside another's subtree is then placed
    # already (and roots that are all below each other, a cycle, still get placed)
    top = sorted(root_list, key=lambda code: (_below_another(code, root_set, names), code))

    result: list[Unit] = []
    walk_parent: dict[str, str] = {}
    placed: set[str] = set()
    for root in top:
        if root in placed:
            continue
        stack: list[tuple[str, int, str | None]] = [(root, depth(session, root), None)]
        while stack:
            code, level, above = stack.pop()
            if code in placed:
                continue
            placed.add(code)
            if above is not None:
                walk_parent[code] = above
            name, parent = names.get(code, (code, None))
            result.append(Unit(code=code, name=name, parent_code=parent, level=level))
            for kid in reversed(children.get(code, [])):
                if kid not in placed:
                    stack.append((kid, level + 1, code))
    # each unit's subtree along the walk (descendants come after their unit, so in
    # reverse order every unit is complete before its parent takes it in)
    by_code = {unit.code: unit for unit in result}
    for unit in reversed(result):
        unit.subtree.add(unit.code)
        above = walk_parent.get(unit.code)
        if above is not None:
            by_code[above].subtree |= unit.subtree
    return result


def _below_another(code: str, roots: set[str], names: dict[str, tuple[str, str | None]]) -> bool:
    """Whether another root lies above `code` (walking parents, cycle-safe)."""
    seen = {code}
    current = names.get(code, (code, None))[1]
    while current is not None and current not in seen:
        if current in roots:
            return True
        seen.add(current)
        current = names.get(current, (current, None))[1]
    return False
