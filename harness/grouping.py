"""Which segment answers which spec in an `expect_unordered` group.

Greedy assignment fails groups that can pass: with specs [A any-flags, B only-FIN] and segments
[FIN, ACK], giving the FIN to A leaves B nothing. A maximum bipartite matching (augmenting paths,
Kuhn's algorithm; groups hold at most 8) finds an assignment whenever one exists.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_GROUP = 8


def max_matching(fits: Sequence[Sequence[int]], segments: int) -> list[int | None]:
    """For each spec, the segment it gets (None: none left for it); `fits[i]` lists the segments
    spec i matches. Every spec gets one exactly when a perfect matching exists."""
    owner: list[int | None] = [None] * segments

    def place(spec: int, seen: set[int]) -> bool:
        for seg in fits[spec]:
            if seg in seen:
                continue
            seen.add(seg)
            holder = owner[seg]
            if holder is None or place(holder, seen):
                owner[seg] = spec
                return True
        return False

    for spec in range(len(fits)):
        place(spec, set())
    assigned: list[int | None] = [None] * len(fits)
    for seg, spec in enumerate(owner):
        if spec is not None:
            assigned[spec] = seg
    return assigned
