"""Split groups: tunes that share a phrase are one group, and a group lands in one split.

A tune is `(piece_id, opening fingerprint)`. Two tunes are joined when they share at least
`MIN_SHARED` phrase fingerprints (`mg.representation.fingerprint.phrase_fingerprints`), and
groups are the connected components of those joins (a union-find), so a tune printed in three
books with three different first bars is one group. A phrase shared by more than `MAX_TUNES`
distinct tunes joins nobody (a stop-list: a formula common to many tunes says nothing about
which tune it is). A group's name, which `split_of` hashes, is the smallest opening
fingerprint of its tunes; a tune joined with no other keeps its own opening fingerprint.

Pure functions: `join_groups` does the whole thing in one process on texts (the copy check
benchmark, the tests), and `join_table` does the same on 64-bit integers in numpy arrays, one
row per (phrase, piece_id, opening fingerprint), which is how ingest runs it
(`transforms_tensor.PlanShards`: every parse worker spills its rows, one step joins them all,
24 bytes a row, where a Beam shuffle of the pairs held ~100x that in the local runner's
process). Fingerprints and piece ids are 16 hex digits, so the integers sort as the texts do
(`fingerprint_int`). The result depends on the set of (phrase, tune) pairs only, never on their
order, so the same corpus gives the same groups whatever the runner or worker count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

MAX_TUNES = 8  # a phrase shared by more distinct tunes than this is stop-listed
MIN_SHARED = 1  # phrase fingerprints two tunes must share to be joined
_HEX_DIGITS = "0123456789abcdef"  # a fingerprint's digits

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


def fingerprint_int(text: str) -> int:
    """A fingerprint or piece_id (16 lowercase hex digits: an 8-byte phrase hash or XXH3)
    as its 64-bit integer; integers sort as their texts do. Anything else is refused."""
    if isinstance(text, str) and len(text) == 16 and not text.strip(_HEX_DIGITS):
        return int(text, 16)  # 16 lowercase hex digits, what `int` reads them as: no check
    value = int(text, 16) if len(text) == 16 else -1
    if value < 0 or f"{value:016x}" != text:
        raise ValueError(f"not a 16-hex-digit fingerprint: {text!r}")
    return value


def fingerprint_text(value: int) -> str:
    return f"{int(value):016x}"


def join_table(
    phrases: np.ndarray,
    pieces: np.ndarray,
    keys: np.ndarray,
    max_tunes: int = MAX_TUNES,
    min_shared: int = MIN_SHARED,
) -> tuple[np.ndarray, np.ndarray, int]:
    """`join_groups` on uint64 arrays, one row per (phrase, piece_id, opening fingerprint), in
    any order, copies allowed: (piece_ids of the joined tunes, sorted; their groups' names;
    phrases stop-listed). A piece_id has one opening fingerprint (both are of its notes)."""
    ids, tune, names = tune_numbers(pieces, keys)
    return join_numbered(phrases, tune, ids, names, max_tunes, min_shared)


def tune_numbers(pieces: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`join_table`'s rows' tunes numbered in piece_id order: (piece_ids, sorted; each row's
    tune number, int32 where it fits; each tune's opening fingerprint). A caller that holds
    the rows can let their piece and key columns go before the join (`join_numbered`)."""
    pieces, keys = (np.asarray(a, dtype=np.uint64) for a in (pieces, keys))
    ids = np.unique(pieces)
    tune = np.searchsorted(ids, pieces).astype(np.int32 if len(ids) < 2**31 else np.int64)
    names = np.empty(len(ids), dtype=np.uint64)
    names[tune] = keys
    return ids, tune, names


def join_numbered(
    phrases: np.ndarray,
    tune: np.ndarray,
    ids: np.ndarray,
    names: np.ndarray,
    max_tunes: int = MAX_TUNES,
    min_shared: int = MIN_SHARED,
) -> tuple[np.ndarray, np.ndarray, int]:
    """`join_table` of rows whose tunes are numbered (`tune_numbers`)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # few temporaries, tune numbers in 32 bits: at 100,000 files (1.6M rows) this one step is
    # the largest transient of the run (np.unique's inverse and int64 numbers made it 2x)
    phrases = np.asarray(phrases, dtype=np.uint64)
    order = np.lexsort((tune, phrases))
    phrase = phrases[order]
    tune = tune[order]
    del order
    distinct = np.ones(len(phrase), dtype=bool)  # one row per (phrase, tune)
    distinct[1:] = (phrase[1:] != phrase[:-1]) | (tune[1:] != tune[:-1])
    phrase = phrase[distinct]
    tune = tune[distinct]
    del distinct
    starts = np.flatnonzero(np.r_[True, phrase[1:] != phrase[:-1]]) if len(phrase) else []
    counts = np.diff(np.r_[starts, len(phrase)]).astype(np.int64)
    del phrase
    stopped = int((counts > max_tunes).sum())
    first, second = _joins(np.asarray(starts, dtype=np.int64), counts, tune, max_tunes, min_shared)
    if not len(first):
        empty = np.zeros(0, dtype=np.uint64)
        return empty, empty, stopped
    graph = coo_matrix(
        (np.ones(len(first), dtype=np.int32), (first, second)), shape=(len(ids), len(ids))
    )
    _, component = connected_components(graph, directed=False)
    joined = np.unique(np.r_[first, second])  # sorted tune numbers: piece_id order
    smallest = np.full(component.max() + 1, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(smallest, component[joined], names[joined])
    return ids[joined], smallest[component[joined]], stopped


def _joins(starts, counts, tune, max_tunes: int, min_shared: int):
    """(first, second) tune numbers of the joins: for `min_shared` 1 each kept phrase's first
    tune with each other (the same components as every pair, fewer edges); else the pairs
    that share `min_shared` kept phrases or more."""
    kept = (counts >= 2) & (counts <= max_tunes)
    if min_shared <= 1:
        rows = np.repeat(starts[kept], counts[kept])  # the first row of each row's phrase
        other = np.flatnonzero(np.repeat(kept, counts))
        edge = other != rows
        return tune[rows[edge]], tune[other[edge]]
    found = []
    for size in range(2, max_tunes + 1):
        at = starts[kept & (counts == size)]
        if len(at):
            i, j = np.triu_indices(size, k=1)
            found.append(
                np.stack([tune[at[:, None] + i], tune[at[:, None] + j]], -1).reshape(-1, 2)
            )
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs_, shared = np.unique(np.concatenate(found), axis=0, return_counts=True)
    pairs_ = pairs_[shared >= min_shared]
    return pairs_[:, 0], pairs_[:, 1]


def table_group_sizes(names: np.ndarray) -> dict[int, int]:
    """`group_sizes` of `join_table`'s names: {tunes in a group: groups that size}."""
    _, tunes = np.unique(names, return_counts=True)
    sizes, count = np.unique(tunes, return_counts=True)
    return dict(zip(sizes.tolist(), count.tolist(), strict=True))
