"""Everything a running server holds: the model, its chat template and the engine, opened once."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import llama_cpp

from fncall import __version__
from fncall.chat.template import ChatTemplate, TemplateRenderError
from fncall.config import ServerConfig
from fncall.engine.client import EngineClient
from fncall.engine.engine import Engine, EngineConfig
from fncall.engine.llama import LlamaModel
from fncall.engine.prefix_disk import DiskCacheConfig
from fncall.engine.sequence import Constraint
from fncall.models import PACKAGED, default_cache_dir, resolve_model
from fncall.models.sampling import OPENAI, SamplingDefaults, resolve
from fncall.tools.constraint import GrammarCompiler
from fncall.tools.decision import DEFAULT as DEFAULT_THRESHOLDS
from fncall.tools.decision import Thresholds
from fncall.tools.decision import parse as parse_thresholds
from fncall.tools.formats import ToolFormat, choose, marker_tokens, with_reasoning
from fncall.tools.grammar import OutputSchema, output_plan, plan_grammars
from fncall.tools.spec import ToolRequest

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class ToolConstraint:
    """A per-sequence constraint factory that keeps the tool request it was compiled from: a remote
    engine (fncall.serve_ray) gets the request and compiles the same grammar on its side."""

    tools: ToolRequest
    make: Callable[[], Constraint] = field(compare=False, repr=False)
    after_results: bool = False  # Runtime.tool_constraint's options, to rebuild it the same way
    decide: bool = True

    def __call__(self) -> Constraint:
        return self.make()


@dataclass(slots=True)
class Runtime:
    model: LlamaModel
    template: ChatTemplate
    engine: EngineClient
    model_id: str
    names: frozenset[str]  # what a request's `model` may say
    fingerprint: str
    created: int
    tool_format: ToolFormat
    native_tools: bool  # the chat template renders `tools` itself
    grammars: GrammarCompiler
    sampling: SamplingDefaults = OPENAI  # for parameters a request omits
    call_thresholds: Thresholds | None = DEFAULT_THRESHOLDS  # auto mode's call/text decision; None = off
    ground_calls: bool = True  # auto mode: made-up calls are dropped (tools/grounding.py)
    served: tuple[str, ...] = ()  # the names /v1/models lists (--served-model-name); empty = model_id

    @property
    def listed(self) -> tuple[str, ...]:
        return self.served or (self.model_id,)

    @classmethod
    def open(
        cls,
        config: ServerConfig,
        *,
        progress: bool = True,
        remote: Callable[[EngineConfig], EngineClient] | None = None,
    ) -> Runtime:
        """Provisions and loads the model and starts the engine thread (seconds to a minute).

        With `remote`, only the vocabulary is loaded (to plan requests) and `remote` makes the engine.
        """
        resolved = resolve_model(config.model, progress=progress)
        model = LlamaModel(resolved.path, vocab_only=remote is not None)
        template = ChatTemplate.load(
            model.chat_template,
            override=config.chat_template,
            bos_token=model.token_text(model.bos_id) if model.bos_id >= 0 else "",
            eos_token=model.token_text(model.eos_id) if model.eos_id >= 0 else "",
        )
        specials = {t for t in marker_tokens() if _special_token(model, t) is not None}
        engine_config = EngineConfig(
            n_ctx=config.ctx,
            n_slots=config.parallel,
            n_threads=config.n_threads,
            max_waiting=config.max_waiting,
            disk_cache=_disk_cache(config),
            host_cache_bytes=config.prefix_cache_ram_mb * 1024 * 1024,
            jump_forward=config.jump_forward,
        )
        # The grammar library's per-model tokenizer (~1.5 s for a 150k vocabulary) builds on a thread while
        # the engine warms up; both finish before the server listens, so the first request after a start
        # pays neither (a 12-tool first token after a restart: 2.12 -> 0.46 s; README, "Prefixes on disk").
        grammars = GrammarCompiler(model)
        grammars.start_warm_up()
        engine: EngineClient
        if remote is not None:
            engine = remote(engine_config)
        else:
            engine = local = Engine(model, engine_config)
            local.start()
        served = tuple(dict.fromkeys([*filter(None, [config.model_id]), *config.served_model_names]))
        model_id = served[0] if served else resolved.model_id
        seed = f"{__version__}|{llama_cpp.__version__}|{model_id}|{resolved.path.stat().st_size}"
        tool_format, native_tools = choose(template.source, config.tool_format, specials)
        tool_format = with_reasoning(tool_format, template.source, _generation_prompt(template))
        log.info("loaded %s (%s) from %s", model_id, model.description, resolved.path)
        how = "forced" if config.tool_format else "detected"
        where = "rendered by the model's template" if native_tools else "described in our system prompt"
        reasoning = "; <think> reasoning kept apart" if tool_format.syntax.think else ""
        log.info("tool format: %s (%s; %s%s)", tool_format.name, how, where, reasoning)
        packaged = PACKAGED[config.model].sampling if config.model in PACKAGED else {}
        sampling = resolve(metadata=model.metadata, packaged=packaged, override=config.sampling_defaults)
        log.info("sampling defaults for parameters a request omits: %s", sampling.describe())
        log.info(
            "prefix cache: idle slots' prefixes %s; on disk %s",
            f"parked in up to {config.prefix_cache_ram_mb} MiB of memory"
            if config.prefix_cache_ram_mb
            else "kept in the KV cache",
            f"up to {config.prefix_cache_disk_mb} MiB" if config.prefix_cache_disk_mb else "off",
        )
        grammars.join_warm_up()
        return cls(
            model=model,
            template=template,
            engine=engine,
            model_id=model_id,
            names=frozenset({*served, model_id, resolved.model_id, resolved.alias}),
            fingerprint="fp_" + hashlib.sha256(seed.encode()).hexdigest()[:10],
            created=int(time.time()),
            tool_format=tool_format,
            native_tools=native_tools,
            grammars=grammars,
            sampling=sampling,
            call_thresholds=parse_thresholds(config.call_threshold),
            ground_calls=config.ground_calls,
            served=served,
        )

    def close(self) -> None:
        self.engine.stop()
        self.grammars.join_warm_up()
        self.model.close()

    def prompt_tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> list[int]:
        """Renders the conversation with the model's template and tokenizes it (special tokens parsed)."""
        text = self.template.render(messages, tools=tools, add_generation_prompt=True)
        bos = self.template.bos_token
        add_bos = self.model.add_bos and not (bos and text.startswith(bos))  # no double BOS
        return self.model.tokenize(text, add_special=add_bos, parse_special=True)

    def decides(self, req: ToolRequest) -> bool:
        """Whether auto mode's call/text decision after tool results (tools/decision.py) runs for it."""
        syntax = self.tool_format.syntax
        return (
            req.mode == "auto"
            and self.call_thresholds is not None
            and self.call_thresholds.after_results is not None
            and syntax.think is None
            and bool(syntax.trigger)
            and _special_token(self.model, syntax.trigger) is not None
        )

    def grounds_calls(self, req: ToolRequest) -> bool:
        """Whether auto mode's made-up calls are dropped for it (tools/grounding.py)."""
        return req.mode == "auto" and self.ground_calls and self.call_thresholds is not None

    def tool_constraint(
        self,
        req: ToolRequest,
        *,
        after_results: bool = False,
        decide: bool = True,
        output: OutputSchema | None = None,
    ) -> ToolConstraint:
        """Per-sequence constraint factory for a tool request; compiles on first use (blocking).

        `after_results`: the conversation ends with tool results (the decision there differs: a text
        choice ends the attempt, see translate.Plan.answer); `decide=False`: no decision at the opening;
        `output` (structured outputs, `auto` only): the answer is calls or that JSON, from the first token.
        """
        syntax = self.tool_format.syntax
        open_token = _special_token(self.model, syntax.trigger) if syntax.trigger else None
        if req.mode == "none":  # the call marker may never be sampled; nothing else is constrained
            ban = self.grammars.ban([open_token] if open_token is not None else [])
            return ToolConstraint(req, ban, after_results=after_results, decide=decide)
        rules = self.call_thresholds if req.mode == "auto" else None
        opening = None
        if rules is not None and decide:
            opening = rules.after_results if after_results else rules.first
        plan = plan_grammars(
            self.tool_format,
            req,
            self._marker,
            open_is_token=open_token is not None,
            threshold=opening,
            more=rules.more if rules else None,
            defer_text=after_results,
            output=output,
        )
        make = self.grammars.factory(plan, open_token)
        return ToolConstraint(req, make, after_results=after_results, decide=decide)

    def output_constraint(self, output: OutputSchema) -> Callable[[], Constraint]:
        """Per-sequence constraint for structured output; compiles on first use (blocking, cached)."""
        return self.grammars.factory(output_plan(output), None)

    def _marker(self, text: str) -> str:
        """A special token by id (llguidance needs `<[id]>` for those), else a quoted literal."""
        token = _special_token(self.model, text)
        return f"<[{token}]>" if token is not None else json.dumps(text)


def _disk_cache(config: ServerConfig) -> DiskCacheConfig | None:
    if not config.prefix_cache_disk_mb:
        return None
    return DiskCacheConfig(
        root=default_cache_dir() / "prefix-kv",
        max_bytes=config.prefix_cache_disk_mb * 1024 * 1024,
        min_tokens=config.prefix_cache_disk_min_tokens,
    )


def _special_token(model: LlamaModel, text: str) -> int | None:
    """The id of `text` if the vocabulary has it as one control or added token (Qwen's `<tool_call>`,
    Llama's `<|python_tag|>`, Mistral's `[TOOL_CALLS]`), not an ordinary piece of text like `>`."""
    token = model.single_token(text)
    if token is None:
        return None
    # TODO(engine): belongs on LlamaModel next to single_token; kept here while engine/ is being changed.
    attr = llama_cpp.llama_vocab_get_attr(model.vocab_handle, token)
    marked = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
    return token if attr & marked else None


def _generation_prompt(template: ChatTemplate) -> str:
    """What the template writes for a one-message conversation (does its generation prompt open a block?)."""
    try:
        return template.render([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    except TemplateRenderError:
        return ""
