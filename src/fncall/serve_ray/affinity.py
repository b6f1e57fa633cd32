"""Prefix affinity: which engine replica most likely holds the longest prefix of a rendered prompt.

Ray-free policy behind `router.PrefixAffinityRouter`. Prompts are token ids as rendered by the chat
template, tool definitions included, so requests that share a tool preamble match even when their
messages differ (Ray's own prefix router compares message text and misses the tools).

A prompt is cut into blocks of `block` tokens; block i's hash chains all blocks before it, so one hash
stands for a whole prefix and "replica holds hash i" means it holds the first i+1 blocks. A replica's
holdings come from two places: what it reports (the blocks its slots' KV cells hold, every
`stats_period` seconds) and, until its next reports cover them, the prompts just routed to it.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MIN_SHARE = 0.25  # of a prompt's blocks that affinity must save over the least loaded replica


def block_hashes(tokens: Sequence[int], block: int) -> list[int]:
    """Chained 64-bit hashes of the full blocks of `tokens` (a partial last block is not hashed)."""
    hashes: list[int] = []
    digest = b""
    for start in range(0, len(tokens) - block + 1, block):
        chunk = array("q", tokens[start : start + block]).tobytes()
        digest = hashlib.blake2b(digest + chunk, digest_size=8).digest()
        hashes.append(int.from_bytes(digest, "little"))
    return hashes


@dataclass(slots=True)
class _Holdings:
    reported: frozenset[int] = frozenset()
    recent: dict[int, float] = field(default_factory=dict)  # hash → when a prompt with it was routed here

    def holds(self, h: int) -> bool:
        return h in self.reported or h in self.recent


@dataclass(slots=True)
class AffinityTable:
    """The router's view of every replica's prefix holdings, and the routing policy over it."""

    ttl: float  # seconds a routed prompt counts as held without a report confirming it
    imbalance: int  # ongoing requests a prefix holder may have above the least loaded candidate
    _replicas: dict[str, _Holdings] = field(default_factory=dict)

    def report(self, replica: str, hashes: Iterable[int], now: float) -> None:
        view = self._replicas.setdefault(replica, _Holdings())
        view.reported = frozenset(hashes)
        view.recent = {h: t for h, t in view.recent.items() if now - t < self.ttl}

    def routed(self, replica: str, hashes: Iterable[int], now: float) -> None:
        view = self._replicas.setdefault(replica, _Holdings())
        view.recent.update(dict.fromkeys(hashes, now))

    def keep_only(self, replicas: Iterable[str]) -> None:
        alive = set(replicas)
        for gone in set(self._replicas) - alive:
            del self._replicas[gone]

    def matched(self, replica: str, hashes: Sequence[int]) -> int:
        """Leading blocks of the prompt the replica holds."""
        view = self._replicas.get(replica)
        if view is None:
            return 0
        n = 0
        while n < len(hashes) and view.holds(hashes[n]):
            n += 1
        return n

    def held(self, replica: str) -> int:
        view = self._replicas.get(replica)
        return len(view.reported | view.recent.keys()) if view else 0

    def rank(
        self, candidates: Sequence[str], hashes: Sequence[int], loads: Mapping[str, int]
    ) -> list[list[str]]:
        """Ranks of candidates, most preferred first (Serve picks the least loaded within a rank that
        has room, else tries the next rank).

        The replicas holding the longest prefix come first if that saves at least MIN_SHARE of the
        prompt over the least loaded candidate, unless they carry more than `imbalance` requests above
        it; otherwise the least loaded come first, fewest held blocks breaking ties (a new prefix goes
        where it evicts least).
        """
        if not candidates:
            return []
        least = min(loads.get(r, 0) for r in candidates)
        matches = {r: self.matched(r, hashes) for r in candidates}
        best = max(matches.values())
        shuffled = random.sample(list(candidates), len(candidates))  # no replica favoured on full ties
        by_load = sorted(shuffled, key=lambda r: (loads.get(r, 0), self.held(r)))
        # Affinity must save a real share of the prompt over where load alone would send it: a system
        # header that every template starts with is not worth piling everything on one replica.
        if (best - matches[by_load[0]]) >= MIN_SHARE * len(hashes):
            holders = [r for r in by_load if matches[r] == best and loads.get(r, 0) - least <= self.imbalance]
            if holders:
                return [holders, [r for r in by_load if r not in holders][:2]]
        return [by_load[:1], by_load[1:3]]
