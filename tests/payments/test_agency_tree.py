"""The agency tree: subtrees, depths and the walk of the reports, cycles included."""

from __future__ import annotations

from payments.agency_tree import depth, subtree_codes, units
from payments.models import Agency
from payments.services.gateway import Gateway


def agencies(gw: Gateway, *rows: tuple[str, str | None]) -> None:
    with gw.sessions.begin() as session:
        for code, parent in rows:
            session.add(Agency(code=code, name=f"Cơ quan {code}", parent_code=parent))


def test_subtrees_and_depths(gw: Gateway) -> None:
    agencies(gw, ("P", None), ("D1", "P"), ("D2", "P"), ("W1", "D1"), ("W2", "D1"),
             ("X", None), ("Y", "MISSING"))
    with gw.sessions() as session:
        assert subtree_codes(session, ["P"]) == {"P", "D1", "D2", "W1", "W2"}
        assert subtree_codes(session, ["D1", "X"]) == {"D1", "W1", "W2", "X"}
        assert subtree_codes(session, ["UNKNOWN"]) == {"UNKNOWN"}  # kept, nothing below
        assert subtree_codes(session, []) == set()
        assert [depth(session, c) for c in ("P", "D1", "W2", "X", "Y", "UNKNOWN")] \
            == [1, 2, 3, 1, 1, 1]
        walk = units(session, {"D1", "P"})  # D1 lies below P: once, under it
        assert [(u.code, u.level, u.parent_code) for u in walk] == [
            ("P", 1, None), ("D1", 2, "P"), ("W1", 3, "D1"), ("W2", 3, "D1"), ("D2", 2, "P")]
        assert walk[0].subtree == {"P", "D1", "D2", "W1", "W2"}
        assert walk[1].subtree == {"D1", "W1", "W2"}
        assert walk[2].subtree == {"W1"}


def test_a_cycle_ends_the_walk(gw: Gateway) -> None:
    agencies(gw, ("A", "C"), ("B", "A"), ("C", "B"), ("K", "C"))
    with gw.sessions() as session:
        assert subtree_codes(session, ["A"]) == {"A", "B", "C", "K"}
        assert depth(session, "A") == 3  # A, C, B: each unit of the cycle once
        walk = units(session, {"A", "B"})
        assert sorted(u.code for u in walk) == ["A", "B", "C", "K"]  # no unit twice
        assert walk[0].subtree == {"A", "B", "C", "K"}
