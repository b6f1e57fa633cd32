"""Engine replicas' reports, as the ingress sees them: cluster-wide engine gauges and per-replica series.

Each engine replica answers Serve's `record_routing_stats()` with a report (`ReplicaReport.as_dict`);
Serve's controller collects them every `stats_period` and hands them to the request router in every
process that holds a handle to the engine deployment. The router (router.py) posts them on this
process's board, where `/metrics`, `/health` and the remote engine's `stats()` read them. Ray-free.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fncall.engine.engine import EngineStats


@dataclass(slots=True, frozen=True, kw_only=True)
class ReplicaReport:
    replica: str  # Serve's replica id
    node: str  # Ray node id
    pid: int
    slots: int
    running: int
    waiting: int
    free_slots: int
    retained_tokens: int
    kv_tokens: int
    requests: int  # completions finished on this replica
    prompt_tokens: int
    cached_tokens: int  # prompt tokens reused from this replica's KV cache
    prefix_blocks: tuple[int, ...] = ()  # affinity.block_hashes of what its slots hold

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplicaReport | None:
        """None for a replica that has not reported yet (Serve's default stats are empty)."""
        names = {f.name for f in fields(cls)}
        if not names - {"prefix_blocks"} <= data.keys():
            return None
        values = {k: v for k, v in data.items() if k in names}
        values["prefix_blocks"] = tuple(values.get("prefix_blocks", ()))
        return cls(**values)


class Board:
    """The latest report of every live replica of one engine deployment (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[str, ReplicaReport] = {}

    def post(self, reports: Mapping[str, ReplicaReport]) -> None:
        """The replicas Serve currently routes to, with their reports: replaces the previous set."""
        with self._lock:
            self._reports = dict(reports)

    def reports(self) -> list[ReplicaReport]:
        with self._lock:
            return sorted(self._reports.values(), key=lambda r: r.replica)

    def totals(self) -> EngineStats:
        reports = self.reports()
        return EngineStats(
            n_slots=sum(r.slots for r in reports),
            running=sum(r.running for r in reports),
            waiting=sum(r.waiting for r in reports),
            free_slots=sum(r.free_slots for r in reports),
            retained_tokens=sum(r.retained_tokens for r in reports),
            kv_tokens=sum(r.kv_tokens for r in reports),
        )


_boards: dict[str, Board] = {}
_boards_lock = threading.Lock()


def board(app_name: str) -> Board:
    """This process's board for an application's engine deployment."""
    with _boards_lock:
        return _boards.setdefault(app_name, Board())


_GAUGES = (
    ("running", "fncall_replica_requests_running", "Sequences holding a slot on the replica."),
    ("waiting", "fncall_replica_requests_waiting", "Requests queued in the replica's engine."),
    ("free_slots", "fncall_replica_slots_free", "Free slots on the replica."),
    ("retained_tokens", "fncall_replica_prefix_cache_tokens", "Tokens the replica's idle slots keep."),
    ("kv_tokens", "fncall_replica_kv_cache_tokens", "Tokens in the replica's KV cache."),
)
_COUNTERS = (
    ("requests", "fncall_replica_completions", "Completions finished on the replica."),
    ("prompt_tokens", "fncall_replica_prompt_tokens", "Prompt tokens of completions on the replica."),
    (
        "cached_tokens",
        "fncall_replica_cached_prompt_tokens",
        "Prompt tokens reused from the replica's cache.",
    ),
)


class ReplicaCollector(Collector):
    """Per-replica series, labelled by replica id, as of each replica's last report."""

    def __init__(self, board: Board) -> None:
        self._board = board

    def collect(self) -> Iterator[Metric]:
        reports = self._board.reports()
        yield GaugeMetricFamily("fncall_replicas", "Engine replicas reporting.", value=len(reports))
        info = GaugeMetricFamily(
            "fncall_replica_info", "Where each replica runs.", labels=["replica", "node", "pid"]
        )
        for r in reports:
            info.add_metric([r.replica, r.node, str(r.pid)], 1)
        yield info
        for attr, name, text in _GAUGES:
            gauge = GaugeMetricFamily(name, text, labels=["replica"])
            for r in reports:
                gauge.add_metric([r.replica], getattr(r, attr))
            yield gauge
        for attr, name, text in _COUNTERS:
            counter = CounterMetricFamily(name, text, labels=["replica"])
            for r in reports:
                counter.add_metric([r.replica], getattr(r, attr))
            yield counter
