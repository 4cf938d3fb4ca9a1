"""Split groups: tunes that share a phrase are one group, and a group lands in one split.

A tune is `(piece_id, opening fingerprint)`. Two tunes are joined when they share at least
`MIN_SHARED` phrase fingerprints (`mg.representation.fingerprint.phrase_fingerprints`), and
groups are the connected components of those joins (a union-find), so a tune printed in three
books with three different first bars is one group. A phrase shared by more than `MAX_TUNES`
distinct tunes joins nobody (a stop-list: a formula common to many tunes says nothing about
which tune it is). A group's name, which `split_of` hashes, is the smallest opening
fingerprint of its tunes; a tune joined with no other keeps its own opening fingerprint.

Pure functions: ingest's Beam transforms (`transforms_tensor.JoinGroups`) call them per phrase
and once over all the joins, and `join_groups` does the whole thing in one process (the copy
check benchmark). The result depends on the set of (phrase, tune) pairs only, never on their
order, so the same corpus gives the same groups whatever the runner or worker count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

MAX_TUNES = 8  # a phrase shared by more distinct tunes than this is stop-listed
MIN_SHARED = 1  # phrase fingerprints two tunes must share to be joined

Tune = tuple[str, str]  # (piece_id, opening fingerprint)


def sharing(tunes: Iterable[Tune], max_tunes: int = MAX_TUNES) -> tuple[Tune, ...] | None:
    """The distinct tunes that share one phrase, sorted; None when more than `max_tunes` do
    (the phrase is stop-listed). Copies with one piece_id count once."""
    distinct = sorted(set(tunes))
    return None if len({piece_id for piece_id, _ in distinct}) > max_tunes else tuple(distinct)


def pairs(tunes: tuple[Tune, ...]) -> Iterator[tuple[Tune, Tune]]:
    """Every pair (a, b), a < b, of the tunes that share a phrase."""
    for i, first in enumerate(tunes):
        for second in tunes[i + 1 :]:
            if first[0] != second[0]:
                yield first, second


def components(joins: Iterable[tuple[Tune, Tune]]) -> dict[str, str]:
    """piece_id → its group's name (the smallest opening fingerprint in its component), for
    every tune joined to another; order-free (union-find, then names from the members)."""
    parent: dict[Tune, Tune] = {}

    def root(tune: Tune) -> Tune:
        parent.setdefault(tune, tune)
        while parent[tune] != tune:
            parent[tune] = parent[parent[tune]]
            tune = parent[tune]
        return tune

    for first, second in joins:
        a, b = root(first), root(second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[Tune, list[Tune]] = {}
    for tune in parent:
        members.setdefault(root(tune), []).append(tune)
    groups: dict[str, str] = {}
    for tunes in members.values():
        name = min(key for _, key in tunes)
        groups.update((piece_id, name) for piece_id, _ in tunes)
    return dict(sorted(groups.items()))


def group_sizes(groups: Mapping[str, str]) -> dict[int, int]:
    """{tunes in a group: how many groups that size}, for the joined groups."""
    sizes = Counter(Counter(groups.values()).values())
    return dict(sorted(sizes.items()))


def join_groups(
    phrases: Mapping[Tune, Iterable[str]],
    max_tunes: int = MAX_TUNES,
    min_shared: int = MIN_SHARED,
) -> tuple[dict[str, str], int]:
    """In one process: tune → its phrase fingerprints, to (piece_id → group for the joined
    tunes, phrases stop-listed)."""
    by_phrase: dict[str, list[Tune]] = {}
    for tune, found in phrases.items():
        for phrase in set(found):
            by_phrase.setdefault(phrase, []).append(tune)
    shared, stopped = Counter(), 0
    for tunes in by_phrase.values():
        kept = sharing(tunes, max_tunes)
        if kept is None:
            stopped += 1
            continue
        shared.update(pairs(kept))
    joins = [pair for pair, count in shared.items() if count >= min_shared]
    return components(joins), stopped
