"""Splitting: examples, ratios and a seed in, a deterministic stratified partition out.

No record of a later split near-duplicates a record of the first split (the training split).
Two records are near duplicates when the Jaccard similarity of their prompt sides (the user
messages) or of their whole texts (every message but the system one, and chosen and
rejected) is at least the threshold, on `dedupe.shingles` (word 3-shingles of the normalised
text, character 4-grams under 8 words), computed exactly. Near duplicates are joined
transitively into groups (union-find) and every record of a group of two or more goes to the
first split; the other records are dealt as below into the seats that remain. When the
groups alone outnumber the first split's seats, the first split grows to hold them and the
other splits share the remaining records by their ratios.

Split sizes are the largest-remainder apportionment of N by the ratios. Each stratum (origin
and stratum label) gets floor or ceil of its ideal share of every split; which cells round up
is a small bipartite flow problem, solved so that row (stratum) and column (split) totals are
both exact. Within a stratum, examples are ordered by sha256(seed, id) and dealt out in that
order, and each split keeps that order: no set order, no hash(), no randomness state.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from recipec.dataset.dedupe import shingles
from recipec.dataset.example import Example

RATIO_TOLERANCE = 1e-9
# Used when the recipe gives no near-dedupe threshold: the dedupe default.
DEFAULT_THRESHOLD = 0.85


@dataclass(frozen=True)
class Partition:
    """The splits, and the near-duplicate groups that were kept together in the first split."""

    splits: dict[str, list[Example]]
    groups: tuple[tuple[str, ...], ...]  # ids, each group and the groups in order_key order

    @property
    def grouped(self) -> int:
        """How many records a near-duplicate group bound to the first split."""
        return sum(len(group) for group in self.groups)


def split(
    examples: Sequence[Example],
    ratios: Mapping[str, float],
    seed: int,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, list[Example]]:
    """Partition `examples` into the named splits; ratios must sum to 1."""
    return partition(examples, ratios, seed, threshold).splits


def partition(
    examples: Sequence[Example],
    ratios: Mapping[str, float],
    seed: int,
    threshold: float = DEFAULT_THRESHOLD,
) -> Partition:
    """The splits with near-duplicate groups kept in the first split (see the module docstring)."""
    shares = _shares(ratios)
    _check_unique_ids(examples)
    groups = near_groups(examples, threshold, seed)
    bound = {example_id for group in groups for example_id in group}
    free = [e for e in examples if e.id not in bound]
    sizes = _sizes(len(examples), len(bound), shares)
    result: dict[str, list[Example]] = {name: [] for name in shares}
    result[next(iter(shares))].extend(e for e in examples if e.id in bound)
    _deal_stratified(free, [sizes[0] - len(bound), *sizes[1:]], seed, result)
    splits = {
        name: sorted(rows, key=lambda e: order_key(seed, e.id)) for name, rows in result.items()
    }
    return Partition(splits, groups)


def _deal_stratified(
    examples: list[Example], sizes: list[int], seed: int, into: dict[str, list[Example]]
) -> None:
    """Deal `examples` into splits of exactly `sizes`, every stratum in proportion."""
    if not examples:
        return
    shares = {name: Fraction(n, len(examples)) for name, n in zip(into, sizes, strict=True)}
    strata = _strata(examples, seed)
    table = allocate([len(members) for members in strata.values()], shares, sizes)
    for members, counts in zip(strata.values(), table, strict=True):
        _deal(members, dict(zip(into, counts, strict=True)), into)


def _sizes(total: int, bound: int, shares: Mapping[str, Fraction]) -> list[int]:
    """Largest-remainder sizes; if `bound` records exceed the first split, it grows to hold
    them and the other splits share the rest by their ratios."""
    sizes = apportion(total, shares)
    if bound <= sizes[0]:
        return sizes
    rest = list(shares.values())[1:]
    weight = sum(rest, Fraction(0))
    if weight == 0:
        return [total, *[0] * len(rest)]
    others = apportion(total - bound, {str(i): share / weight for i, share in enumerate(rest)})
    return [bound, *others]


def prompt_side(example: Example) -> str:
    """The user messages: what an evaluation asks."""
    return "\n".join(m.content for m in example.messages if m.role == "user")


def whole_text(example: Example) -> str:
    """Every message but the format's system message, then chosen and rejected."""
    parts = [m.content for m in example.messages if m.role != "system"]
    parts.extend(answer for answer in (example.chosen, example.rejected) if answer is not None)
    return "\n".join(parts)


def near_groups(
    examples: Sequence[Example], threshold: float, seed: int = 0
) -> tuple[tuple[str, ...], ...]:
    """Groups (2+ ids) of records joined by near-duplicate prompt sides or whole texts."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    ordered = sorted(examples, key=lambda e: order_key(seed, e.id))
    parent = list(range(len(ordered)))
    for text in (prompt_side, whole_text):
        sets = [frozenset(shingles(text(e))) for e in ordered]
        for i, j in similar_pairs(sets, threshold):
            _union(parent, i, j)
    members: dict[int, list[str]] = {}
    for i, example in enumerate(ordered):
        members.setdefault(_root(parent, i), []).append(example.id)
    return tuple(tuple(group) for group in members.values() if len(group) > 1)


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _union(parent: list[int], i: int, j: int) -> None:
    a, b = _root(parent, i), _root(parent, j)
    parent[max(a, b)] = min(a, b)  # the earliest member is the root: groups keep their order


def similar_pairs(sets: Sequence[frozenset[bytes]], threshold: float) -> list[tuple[int, int]]:
    """Every pair (i < j) with exact Jaccard >= threshold, by prefix filtering.

    Tokens are ordered rarest first; a set of size s indexes only its first
    s - ceil(t * s) + 1 tokens, and two sets with Jaccard >= t always share one of those.
    """
    t = Fraction(repr(threshold))  # exactly the decimal the recipe wrote
    frequency = Counter(token for tokens in sets for token in tokens)
    index: dict[bytes, list[int]] = {}
    pairs: list[tuple[int, int]] = []
    for j, tokens in enumerate(sets):
        ordered = sorted(tokens, key=lambda token: (frequency[token], token))
        prefix = ordered[: len(ordered) - math.ceil(t * len(ordered)) + 1]
        candidates = sorted({i for token in prefix for i in index.get(token, ())})
        pairs.extend((i, j) for i in candidates if _jaccard_at_least(sets[i], tokens, t))
        for token in prefix:
            index.setdefault(token, []).append(j)
    return pairs


def _jaccard_at_least(a: frozenset[bytes], b: frozenset[bytes], t: Fraction) -> bool:
    common = len(a & b)
    return common >= t * (len(a) + len(b) - common)


def _deal(members: list[Example], counts: dict[str, int], into: dict[str, list[Example]]) -> None:
    """The first counts[first split] members to the first split, the next ones to the next..."""
    start = 0
    for name, count in counts.items():
        into[name].extend(members[start : start + count])
        start += count


def order_key(seed: int, example_id: str) -> tuple[str, str]:
    return hashlib.sha256(f"{seed}\x00{example_id}".encode()).hexdigest(), example_id


def _shares(ratios: Mapping[str, float]) -> dict[str, Fraction]:
    """Ratios as exact fractions scaled to sum to exactly 1."""
    if not ratios:
        raise ValueError("at least one split is needed")
    for name, ratio in ratios.items():
        if not (math.isfinite(ratio) and ratio >= 0):
            raise ValueError(f"split {name!r}: ratio must be a finite number >= 0, not {ratio}")
    total = math.fsum(ratios.values())
    if abs(total - 1.0) > RATIO_TOLERANCE:
        raise ValueError(f"split ratios must sum to 1, not {total}")
    exact = sum((Fraction(ratio) for ratio in ratios.values()), Fraction(0))
    return {name: Fraction(ratio) / exact for name, ratio in ratios.items()}


def _check_unique_ids(examples: Sequence[Example]) -> None:
    seen: set[str] = set()
    for example in examples:
        if example.id in seen:
            raise ValueError(f"example id {example.id!r} appears twice")
        seen.add(example.id)


def _strata(examples: Sequence[Example], seed: int) -> dict[tuple[str, str], list[Example]]:
    """Examples grouped by (origin, stratum), groups sorted by key, members by order_key."""
    groups: dict[tuple[str, str], list[Example]] = {}
    for example in examples:
        groups.setdefault((example.origin, example.stratum), []).append(example)
    return {key: sorted(groups[key], key=lambda e: order_key(seed, e.id)) for key in sorted(groups)}


def apportion(total: int, shares: Mapping[str, Fraction]) -> list[int]:
    """Largest remainder: floor of each quota, then +1 by largest remainder (ties: first)."""
    quotas = [total * share for share in shares.values()]
    counts = [math.floor(quota) for quota in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def allocate(
    rows: Sequence[int], shares: Mapping[str, Fraction], columns: Sequence[int]
) -> list[list[int]]:
    """Integer table with the given row and column totals, each cell floor or ceil of row * share.

    Starts from the floors and raises cells by one: first greedily in order of largest
    fractional part (so each stratum rounds like its own largest-remainder apportionment), then
    by augmenting paths until every row and column total is met.
    """
    ratios = list(shares.values())
    ideal = [[row * ratio for ratio in ratios] for row in rows]
    table = [[math.floor(cell) for cell in cells] for cells in ideal]
    row_need = [row - sum(cells) for row, cells in zip(rows, table, strict=True)]
    col_need = [col - sum(cells[j] for cells in table) for j, col in enumerate(columns)]
    raisable = [[cell != math.floor(cell) for cell in cells] for cells in ideal]
    raised = [[False] * len(ratios) for _ in rows]
    cells = [(i, j) for i in range(len(rows)) for j in range(len(ratios)) if raisable[i][j]]
    for i, j in sorted(cells, key=lambda c: (-(ideal[c[0]][c[1]] % 1), c)):
        if row_need[i] > 0 and col_need[j] > 0:
            raised[i][j] = True
            row_need[i] -= 1
            col_need[j] -= 1
    for i in range(len(rows)):
        while row_need[i] > 0:
            if not _augment(i, raisable, raised, col_need):
                # Not seen in 88,000 randomized and exhaustive small cases; a bug if it happens.
                raise AssertionError(f"no stratified allocation of {rows} into {columns}")
            row_need[i] -= 1
    return [[table[i][j] + raised[i][j] for j in range(len(ratios))] for i in range(len(rows))]


def _augment(
    start: int, raisable: list[list[bool]], raised: list[list[bool]], col_need: list[int]
) -> bool:
    """Raise one more cell in row `start`, moving earlier raises along a shortest path (BFS)."""
    came_from_row: dict[int, int] = {}  # column -> the row that reached it
    came_from_col: dict[int, int] = {start: -1}  # row -> the column it was reached through
    queue = deque([start])
    while queue:
        i = queue.popleft()
        for j in range(len(col_need)):
            if not raisable[i][j] or raised[i][j] or j in came_from_row:
                continue
            came_from_row[j] = i
            if col_need[j] > 0:
                col_need[j] -= 1
                _flip(j, came_from_row, came_from_col, raised)
                return True
            for k in range(len(raised)):
                if raised[k][j] and k not in came_from_col:
                    came_from_col[k] = j
                    queue.append(k)
    return False


def _flip(
    col: int, came_from_row: dict[int, int], came_from_col: dict[int, int], raised: list[list[bool]]
) -> None:
    """Raise the path's forward cells and lower its backward ones, from the end back to start."""
    while col != -1:
        row = came_from_row[col]
        raised[row][col] = True
        col = came_from_col[row]
        if col != -1:
            raised[row][col] = False
