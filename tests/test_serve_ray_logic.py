"""fncall.serve_ray's Ray-free parts: prefix blocks, the affinity policy, settings, the replicas' board.

These import no Ray (checked below); the application itself is tested on a real cluster in
test_serve_ray.py.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from fncall.config import ServerConfig
from fncall.serve_ray.affinity import AffinityTable, block_hashes
from fncall.serve_ray.board import Board, ReplicaCollector, ReplicaReport
from fncall.serve_ray.settings import RaySettings, parse_replicas

TOOLS = list(range(1000, 1100))  # a 100-token "tool preamble"


def test_block_hashes_chain_whole_prefixes() -> None:
    a = block_hashes([*TOOLS, 1, 2, 3], 32)
    b = block_hashes([*TOOLS, 7, 8], 32)
    assert len(a) == 3 and a == b  # 103 tokens → 3 full blocks, all inside the shared preamble
    changed = block_hashes([0, *TOOLS[1:]], 32)
    assert not set(changed) & set(a)  # a different first token changes every later block's hash
    assert block_hashes(TOOLS[:31], 32) == []


def test_matched_counts_leading_blocks_held() -> None:
    table = AffinityTable(ttl=10, imbalance=2)
    prompt = block_hashes([*TOOLS, *range(60)], 32)  # 5 blocks
    table.report("r1", prompt[:2], now=0)
    table.routed("r2", prompt, now=0)
    assert table.matched("r1", prompt) == 2
    assert table.matched("r2", prompt) == 5
    assert table.matched("r3", prompt) == 0


def test_rank_prefers_the_holder_of_the_longest_prefix() -> None:
    table = AffinityTable(ttl=10, imbalance=2)
    prompt = block_hashes([*TOOLS, *range(60)], 32)
    table.report("short", prompt[:1], now=0)
    table.report("long", prompt[:4], now=0)
    ranks = table.rank(["short", "long", "none"], prompt, {"short": 0, "long": 1, "none": 0})
    assert ranks[0] == ["long"]
    assert set(ranks[1]) == {"short", "none"}


def test_rank_falls_back_to_least_loaded_past_the_imbalance() -> None:
    table = AffinityTable(ttl=10, imbalance=2)
    prompt = block_hashes(TOOLS, 32)
    table.report("busy", prompt, now=0)
    loads = {"busy": 3, "idle": 0, "other": 1}
    assert table.rank(["busy", "idle", "other"], prompt, loads)[0] == ["idle"]
    loads["busy"] = 2  # within the threshold: the holder still wins
    assert table.rank(["busy", "idle", "other"], prompt, loads)[0] == ["busy"]


def test_a_short_shared_header_does_not_pull_requests_onto_one_replica() -> None:
    table = AffinityTable(ttl=10, imbalance=4)
    header = list(range(40))  # one block every prompt starts with (the template's system header)
    table.report("busy", block_hashes([*header, *TOOLS], 32), now=0)
    other = block_hashes([*header, *range(5000, 5200)], 32)  # 7 blocks, only the first held by "busy"
    assert table.rank(["busy", "idle"], other, {"busy": 1, "idle": 0})[0] == ["idle"]


def test_new_prefix_goes_to_the_least_loaded_then_the_emptiest() -> None:
    table = AffinityTable(ttl=10, imbalance=2)
    table.report("full", block_hashes(TOOLS, 32), now=0)
    table.report("empty", [], now=0)
    fresh = block_hashes(list(range(5000, 5100)), 32)
    assert table.rank(["full", "empty"], fresh, {"full": 0, "empty": 0})[0] == ["empty"]
    assert table.rank(["full", "empty"], fresh, {"full": 0, "empty": 1})[0] == ["full"]


def test_routed_prompts_count_until_reports_supersede_them() -> None:
    table = AffinityTable(ttl=5, imbalance=2)
    prompt = block_hashes(TOOLS, 32)
    table.routed("r1", prompt, now=0)
    table.report("r1", [], now=1)  # a report taken before the prompt was prefilled
    assert table.matched("r1", prompt) == 3
    table.report("r1", [], now=6)  # reports long after: the replica does not hold it (evicted)
    assert table.matched("r1", prompt) == 0
    table.keep_only(["r2"])
    assert table.held("r1") == 0


def test_settings_from_builder_arguments() -> None:
    s = RaySettings.from_args(
        {"model": "tiny", "threads": "1", "parallel": "2", "replicas": "1:3", "upscale_delay": "2"},
        base=ServerConfig(threads=2),
    )
    assert (s.server.model, s.server.threads, s.slots) == ("tiny", 1, 2)
    options = s.engine_options()
    assert options["ray_actor_options"] == {"num_cpus": 1}
    assert options["max_ongoing_requests"] == 2
    auto = options["autoscaling_config"]
    assert (auto["min_replicas"], auto["max_replicas"], auto["target_ongoing_requests"]) == (1, 3, 2)
    assert auto["upscale_delay_s"] == 2 and "num_replicas" not in options
    assert auto["look_back_period_s"] > auto["metrics_interval_s"]  # else Serve warns (and will refuse)
    fixed = RaySettings.from_args({"replicas": "2", "router": "power-of-two"}).engine_options()
    assert fixed["num_replicas"] == 2 and "autoscaling_config" not in fixed
    kwargs = RaySettings.from_args({"parallel": "3"}).router_kwargs()
    assert kwargs == {"affinity": True, "block": 32, "imbalance": 3, "stats_period": 1.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"replicas": "two"}, "replicas must be N or MIN:MAX"),
        ({"replicas": "3:1"}, "0 <= min <= max"),
        ({"threads": "0"}, "threads must be at least 1"),
        ({"router": "random"}, "router must be"),
        ({"block": "0"}, "block must be at least 1"),
        ({"ctx": "lots"}, "ctx='lots' is not a valid int"),
        ({"stats_period": "0"}, "stats_period must be positive"),
        ({"modle": "tiny"}, "unknown argument(s) modle"),
    ],
)
def test_settings_refuse_bad_arguments(args: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RaySettings.from_args(args)


def test_settings_from_a_config_file_take_numbers_too() -> None:
    s = RaySettings.from_args({"replicas": 2, "parallel": 3, "stats_period": 0.5, "api_keys": "k1, k2"})
    assert (s.max_replicas, s.slots, s.stats_period, s.server.api_keys) == (2, 3, 0.5, ("k1", "k2"))


def test_parse_replicas() -> None:
    assert parse_replicas("4") == (4, 4)
    assert parse_replicas("0:8") == (0, 8)


def _report(replica: str, **values: Any) -> ReplicaReport:
    fields = dict(node="n1", pid=11, slots=2, running=1, waiting=0, free_slots=1, retained_tokens=40)
    fields |= dict(kv_tokens=90, requests=3, prompt_tokens=300, cached_tokens=200)
    return ReplicaReport(replica=replica, **(fields | values))


def test_board_totals_and_per_replica_series() -> None:
    board = Board()
    board.post({"a": _report("a"), "b": _report("b", running=2, free_slots=0, cached_tokens=50)})
    totals = board.totals()
    assert (totals.n_slots, totals.running, totals.free_slots, totals.kv_tokens) == (4, 3, 1, 180)
    registry = CollectorRegistry()
    registry.register(ReplicaCollector(board))
    text = generate_latest(registry).decode()
    assert "fncall_replicas 2.0" in text
    assert 'fncall_replica_cached_prompt_tokens_total{replica="b"} 50.0' in text
    assert 'fncall_replica_info{node="n1",pid="11",replica="a"} 1.0' in text
    board.post({"b": _report("b")})  # a replica gone from Serve's set is dropped
    assert [r.replica for r in board.reports()] == ["b"]


def test_report_round_trip_and_unreported_replica() -> None:
    report = _report("a", prefix_blocks=(1, 2))
    assert ReplicaReport.from_dict(report.as_dict()) == report
    assert ReplicaReport.from_dict({}) is None  # Serve's stats before the first report


def test_ray_free_modules_do_not_import_ray() -> None:
    code = (
        "import sys, fncall.serve_ray, fncall.serve_ray.affinity, fncall.serve_ray.board, "
        "fncall.serve_ray.settings, fncall.serve_ray.cli, fncall.cli, fncall.api.app; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
