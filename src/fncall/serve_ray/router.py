"""The engine deployment's request router (Serve's public `RequestRouter` API).

Runs in every process that holds a handle to the engine deployment (the ingress replicas). Serve hands
it the replicas with their latest `record_routing_stats()` reports; it keeps the prefix-affinity table
(affinity.py) and posts the reports on this process's board (board.py) for /metrics and /health.

With `affinity=False` it routes as Serve's default does (power of two choices: two random replicas,
the less loaded wins), so the two policies can be compared with everything else equal.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ray.serve.request_router import PendingRequest, ReplicaID, RequestRouter, RunningReplica

from fncall.serve_ray.affinity import AffinityTable, block_hashes
from fncall.serve_ray.board import ReplicaReport, board
from fncall.serve_ray.client import EngineCall


class PrefixAffinityRouter(RequestRouter):
    def initialize_state(self, **kwargs: Any) -> None:
        """kwargs from RaySettings.router_kwargs: affinity, block, imbalance, stats_period."""
        self._affinity = bool(kwargs.get("affinity", True))
        self._block = int(kwargs.get("block", 32))
        period = float(kwargs.get("stats_period", 1.0))
        # A routed prompt counts as held until reports have had time to show it (or show it evicted).
        self._table = AffinityTable(ttl=3 * period + 1.0, imbalance=int(kwargs.get("imbalance", 4)))
        self._board = board(self.app_name)

    def update_replicas(self, replicas: list[RunningReplica]) -> None:
        super().update_replicas(replicas)
        now = time.monotonic()
        reports: dict[str, ReplicaReport] = {}
        for replica in replicas:
            report = ReplicaReport.from_dict(replica.routing_stats)
            if report is not None:
                reports[report.replica] = report
                self._table.report(report.replica, report.prefix_blocks, now)
        self._table.keep_only(r.replica_id.unique_id for r in replicas)
        self._board.post(reports)

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None
    ) -> list[list[RunningReplica]]:
        if not candidate_replicas:
            return []
        hashes = self._hashes(pending_request)
        if not self._affinity or not hashes:
            return [random.sample(candidate_replicas, min(2, len(candidate_replicas)))]
        by_id = {r.replica_id.unique_id: r for r in candidate_replicas}
        ranks = self._table.rank(list(by_id), hashes, {k: self._load(r) for k, r in by_id.items()})
        return [[by_id[k] for k in rank] for rank in ranks]

    def on_request_routed(
        self, pending_request: PendingRequest, replica_id: ReplicaID, result: object
    ) -> None:
        hashes = self._hashes(pending_request)
        if hashes:
            self._table.routed(replica_id.unique_id, hashes, time.monotonic())

    def _hashes(self, pending_request: PendingRequest | None) -> list[int]:
        if pending_request is None or not pending_request.args:
            return []
        call = pending_request.args[0]
        return block_hashes(call.prompt, self._block) if isinstance(call, EngineCall) else []

    def _load(self, replica: RunningReplica) -> int:
        """Ongoing requests: Serve's cached queue length when it has one, else the replica's last report."""
        cached = self.replica_queue_len_cache.get(replica.replica_id)
        if cached is not None:
            return int(cached)
        report = ReplicaReport.from_dict(replica.routing_stats)
        return report.running + report.waiting if report else 0
