"""`GET /metrics`: Prometheus counters, gauges and histograms of one app, in their own registry.

The engine gauges are read from `Engine.stats()` at scrape time, so they can never drift from the
engine's own counters; everything else is counted as requests and completions end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from fncall.api.generation import CompletionStats
from fncall.engine.engine import EngineStats
from fncall.engine.prefix_disk import DiskCacheStats
from fncall.engine.prefix_host import HostCacheStats

# Latency buckets from a fast token on a small model to a long completion on a big one.
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_TOKEN = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5)
_ROUTES = (
    "/v1/chat/completions",
    "/v1/messages",
    "/v1/responses",
    "/v1/messages/count_tokens",
    "/v1/models",
    "/health",
    "/metrics",
    "/openapi.json",
    "/docs",
)


def route_label(path: str) -> str:
    """A bounded label: the route template, `/v1/openai` folded into `/v1`, anything else 'other'."""
    if path.startswith("/v1/openai/"):
        path = "/v1/" + path.removeprefix("/v1/openai/")
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    if path.startswith("/v1/responses/"):  # a stored response's id is no label
        kind = "/input_items" if path.endswith("/input_items") else ""
        return "/v1/responses/{response_id}" + kind
    return path if path in _ROUTES else "other"


class EngineCollector(Collector):
    """Slot and queue gauges, from one locked snapshot of the engine per scrape."""

    def __init__(self, stats: Callable[[], EngineStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        for name, text, value in (
            ("fncall_requests_waiting", "Requests queued for an engine slot.", s.waiting),
            ("fncall_requests_running", "Sequences holding an engine slot (prefill or decode).", s.running),
            ("fncall_slots_free", "Engine slots free for a new sequence.", s.free_slots),
            ("fncall_slots", "Engine slots (--parallel).", s.n_slots),
            ("fncall_prefix_cache_tokens", "Tokens idle slots keep for prefix reuse.", s.retained_tokens),
            ("fncall_kv_cache_tokens", "Tokens held in the KV cache over all slots.", s.kv_tokens),
        ):
            yield GaugeMetricFamily(name, text, value=value)
        if s.disk is not None:
            yield from _disk_metrics(s.disk)
        if s.host is not None:
            yield from _host_metrics(s.host)


Described = tuple[tuple[str, str, float], ...]  # (name after the prefix, help text, value)


def _families(prefix: str, counters: Described, gauges: Described) -> Iterator[Metric]:
    for name, text, count in counters:
        yield CounterMetricFamily(prefix + name, text, value=count)
    for name, text, value in gauges:
        yield GaugeMetricFamily(prefix + name, text, value=value)


def _host_metrics(h: HostCacheStats) -> Iterator[Metric]:
    """Idle slots' prefixes parked in host memory (--prefix-cache-ram-mb), when that is on."""
    counters = (
        ("parks", "Idle slots' prefixes copied to host memory (and cleared from the KV cache).", h.parks),
        ("hits", "Parked prefixes copied back into a slot.", h.hits),
        ("evictions", "Parked prefixes dropped by the size bound.", h.evictions),
        ("park_seconds", "Engine-thread time spent copying prefixes out.", h.park_seconds),
        ("load_seconds", "Engine-thread time spent copying prefixes back.", h.load_seconds),
    )
    gauges = (
        ("entries", "Prefixes parked in host memory.", h.entries),
        ("tokens", "Tokens of the prefixes parked in host memory.", h.tokens),
        ("bytes", "Bytes of the prefixes parked in host memory.", h.bytes),
    )
    return _families("fncall_prefix_ram_", counters, gauges)


def _disk_metrics(d: DiskCacheStats) -> Iterator[Metric]:
    """The prefix disk cache (--prefix-cache-disk-mb), when it is on."""
    counters = (
        ("hits", "Prompt prefixes loaded from the disk cache.", d.hits),
        ("misses", "Long prompts neither the slots nor the disk cache covered.", d.misses),
        ("saves", "Prompt prefixes saved to the disk cache.", d.saves),
        ("corrupt", "Disk cache files found corrupt or unusable (removed).", d.corrupt),
        ("evictions", "Disk cache files removed by the size bound.", d.evictions),
        ("read_bytes", "Bytes loaded from the disk cache.", d.bytes_read),
        ("written_bytes", "Bytes saved to the disk cache.", d.bytes_written),
        ("load_seconds", "Engine-thread time spent loading prefixes from disk.", d.load_seconds),
        ("save_seconds", "Engine-thread time spent copying prefixes out for saving.", d.save_seconds),
    )
    gauges = (
        ("entries", "Prefixes in the disk cache directory (every model).", d.entries),
        ("bytes", "Bytes of the disk cache directory's entries.", d.bytes),
    )
    return _families("fncall_prefix_disk_", counters, gauges)


class Metrics:
    def __init__(self, engine_stats: Callable[[], EngineStats]) -> None:
        # Process-wide: drops the `*_created` timestamp series, which nobody graphs.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "fncall_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "fncall_http_request_duration_seconds",
            "HTTP request latency, to the last byte.",
            ["route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.prompt_tokens = Counter("fncall_prompt_tokens", "Prompt tokens of completions.", registry=r)
        self.completion_tokens = Counter(
            "fncall_completion_tokens", "Generated tokens of completions.", registry=r
        )
        self.forced_tokens = Counter(
            "fncall_forced_tokens",
            "Completion tokens a grammar forced, appended without sampling (--jump-forward).",
            registry=r,
        )
        self.cached_tokens = Counter(
            "fncall_cached_prompt_tokens", "Prompt tokens reused from the KV cache.", registry=r
        )
        self.time_to_first_token = Histogram(
            "fncall_time_to_first_token_seconds",
            "From submission (queueing included) to the first text.",
            buckets=_LATENCY,
            registry=r,
        )
        self.time_per_token = Histogram(
            "fncall_time_per_output_token_seconds",
            "Mean time between generated tokens, per completion.",
            buckets=_TOKEN,
            registry=r,
        )
        self.grammar_compile = Histogram(
            "fncall_grammar_compile_seconds",
            "Compiling one tool grammar (cache misses only).",
            buckets=_LATENCY,
            registry=r,
        )
        self.tool_calls = Counter("fncall_tool_calls", "Tool calls emitted.", registry=r)
        self.finishes = Counter(
            "fncall_completions",
            "Completions by how they ended: finish_reason, 'cancelled' (client "
            "gone), 'error', 'request_timeout', 'server_shutting_down'.",
            ["finish_reason"],
            registry=r,
        )
        r.register(EngineCollector(engine_stats))

    def observe_request(self, path: str, method: str, status: int, seconds: float) -> None:
        route = route_label(path)
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def observe_completion(self, stats: CompletionStats) -> None:
        self.prompt_tokens.inc(stats.prompt_tokens)
        self.completion_tokens.inc(stats.completion_tokens)
        self.forced_tokens.inc(stats.forced_tokens)
        self.cached_tokens.inc(stats.cached_tokens)
        self.tool_calls.inc(stats.tool_calls)
        self.finishes.labels(stats.outcome).inc()
        if stats.time_to_first_token is not None:
            self.time_to_first_token.observe(stats.time_to_first_token)
        if stats.time_per_token is not None:
            self.time_per_token.observe(stats.time_per_token)


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(metrics.registry), media_type=content_type)
