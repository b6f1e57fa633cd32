"""The seed's weather example, run as written, many times: does a new user's first script work?

`seed_example()` is the function-calling example from DeepInfra's documentation (the project's seed)
as a user would paste it: no `temperature`, `tool_choice="auto"`, one round of calls, then the answer;
only `base_url`, the model name and the question are parameters, and a streamed variant assembles the
same message from the stream. A run passes when the first reply calls `get_current_weather` once per city
asked about (one call with `parallel_tool_calls: false`) and the final answer states each temperature the
dummy function returned.

`--route responses` and `--route messages` run the same example rewritten for OpenAI's Responses API
(`client.responses`) and Anthropic's Messages API (the `anthropic` SDK), each as its SDK's documentation
writes the tool loop; the calls and the answer are judged the same way.

    .venv/bin/python bench/seed_weather.py --runs 50                      # ~10 min on 2 idle cores
    .venv/bin/python bench/seed_weather.py --route messages --runs 20
    .venv/bin/python bench/seed_weather.py --question two --runs 10
    .venv/bin/python bench/seed_weather.py --question two --no-parallel --runs 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
from agent_loop import server_client

ROOT = Path(__file__).resolve().parent.parent
SERVER_FLAGS = ("--model", "default", "--threads", "2", "--parallel", "1", "--log-level", "warning")
QUESTIONS = {
    "sf": ("What is the weather in San Francisco?", ["San Francisco"]),
    "tokyo": ("What is the weather in Tokyo?", ["Tokyo"]),
    "paris": ("What is the weather in Paris?", ["Paris"]),
    "two": ("What's the weather like in Tokyo and in Paris?", ["Tokyo", "Paris"]),
}
TEMPERATURES = {"Tokyo": "75", "San Francisco": "60", "Paris": "70"}


# --- the seed, as written (only the client, the model and the question come from outside) -------------


def get_current_weather(location: str) -> str:
    """Get the current weather in a given location"""
    if "tokyo" in location.lower():
        return json.dumps({"location": "Tokyo", "temperature": "75"})
    elif "san francisco" in location.lower():
        return json.dumps({"location": "San Francisco", "temperature": "60"})
    elif "paris" in location.lower():
        return json.dumps({"location": "Paris", "temperature": "70"})
    else:
        return json.dumps({"location": location, "temperature": "unknown"})


tools = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    }
                },
                "required": ["location"],
            },
        },
    }
]


def seed_example(
    client: openai.OpenAI, model: str, question: str, *, stream: bool, **extra: Any
) -> tuple[list[Any], str | None]:
    """(first reply's tool calls, second reply's content), as the seed prints them."""
    messages: list[Any] = [{"role": "user", "content": question}]
    response = create(
        client, model=model, messages=messages, tools=tools, tool_choice="auto", stream=stream, **extra
    )
    tool_calls = response.tool_calls or []
    messages.append(response)
    for tool_call in tool_calls:
        function_name = tool_call.function.name
        if function_name == "get_current_weather":
            function_args = json.loads(tool_call.function.arguments)
            function_response = get_current_weather(location=function_args.get("location"))
            messages.append({"tool_call_id": tool_call.id, "role": "tool", "content": function_response})
    second = create(
        client, model=model, messages=messages, tools=tools, tool_choice="auto", stream=stream, **extra
    )
    return tool_calls, second.content


# --- the same example through the two other APIs, as their SDKs' documentation writes the loop -------


def seed_responses(
    client: openai.OpenAI, model: str, question: str, *, stream: bool, **extra: Any
) -> tuple[list[Call], str | None]:
    """OpenAI's Responses API: function_call items out, function_call_output items back."""
    flat = [{"type": "function"} | t["function"] for t in tools]
    input_items: list[Any] = [{"role": "user", "content": question}]
    response = respond(
        client, stream, model=model, input=input_items, tools=flat, tool_choice="auto", **extra
    )
    calls = [item for item in response.output if item.type == "function_call"]
    input_items += response.output
    for call in calls:
        if call.name == "get_current_weather":
            result = get_current_weather(location=json.loads(call.arguments).get("location"))
            input_items.append({"type": "function_call_output", "call_id": call.call_id, "output": result})
    second = respond(client, stream, model=model, input=input_items, tools=flat, tool_choice="auto", **extra)
    return [Call(c.name, c.arguments) for c in calls], second.output_text


def respond(client: openai.OpenAI, stream: bool, **kwargs: Any) -> Any:
    if not stream:
        return client.responses.create(**kwargs)
    with client.responses.stream(**kwargs) as events:
        return events.get_final_response()


def seed_messages(
    client: anthropic.Anthropic, model: str, question: str, *, stream: bool, parallel: bool = True
) -> tuple[list[Call], str | None]:
    """Anthropic's Messages API: tool_use blocks out, tool_result blocks back in a user turn."""
    anthropic_tools = [
        {"name": f["name"], "description": f["description"], "input_schema": f["parameters"]}
        for f in (t["function"] for t in tools)
    ]
    choice = {"type": "auto", "disable_parallel_tool_use": not parallel}
    messages: list[Any] = [{"role": "user", "content": question}]
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": 1024,
        "tools": anthropic_tools,
        "tool_choice": choice,
    }
    message = converse(client, stream, messages=messages, **kwargs)
    uses = [block for block in message.content if block.type == "tool_use"]
    messages.append({"role": "assistant", "content": message.content})
    results = [
        {"type": "tool_result", "tool_use_id": use.id, "content": get_current_weather(**use.input)}
        for use in uses
        if use.name == "get_current_weather"
    ]
    if results:
        messages.append({"role": "user", "content": results})
    second = converse(client, stream, messages=messages, **kwargs)
    answer = "".join(block.text for block in second.content if block.type == "text")
    return [Call(u.name, json.dumps(u.input)) for u in uses], answer


def converse(client: anthropic.Anthropic, stream: bool, **kwargs: Any) -> Any:
    if not stream:
        return client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as events:
        return events.get_final_message()


# --- harness ---------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Call:
    name: str
    arguments: str  # JSON text


def run_once(
    client: openai.OpenAI, route: str, model: str, question: str, stream: bool, parallel: bool
) -> tuple[list[Call], str | None]:
    if route == "responses":
        extra = {} if parallel else {"parallel_tool_calls": False}
        return seed_responses(client, model, question, stream=stream, **extra)
    if route == "messages":
        root = str(client.base_url).rstrip("/").removesuffix("/v1")
        with anthropic.Anthropic(base_url=root, api_key="unused", max_retries=0, timeout=1800) as other:
            return seed_messages(other, model, question, stream=stream, parallel=parallel)
    extra = {} if parallel else {"parallel_tool_calls": False}
    calls, answer = seed_example(client, model, question, stream=stream, **extra)
    return [Call(c.function.name, c.function.arguments) for c in calls], answer


def create(client: openai.OpenAI, *, stream: bool, **kwargs: Any) -> Any:
    """The reply's message; streamed, assembled from the chunks with the SDK's own stream helper."""
    if not stream:
        return client.chat.completions.create(**kwargs).choices[0].message
    kwargs.pop("stream", None)
    with client.chat.completions.stream(**kwargs) as events:
        return events.get_final_completion().choices[0].message


@dataclass(slots=True)
class Run:
    index: int
    stream: bool
    passed: bool
    reason: str
    calls: list[dict[str, str]]
    answer: str | None
    seconds: float


def judge(calls: list[Call], answer: str | None, cities: list[str], parallel: bool) -> str:
    """'' when the run passed, else what went wrong (the first thing checked that failed).

    With parallel calls allowed every city must be called for; without, exactly one call for one of them.
    """
    if not calls:
        return "no call"
    if any(c.name != "get_current_weather" for c in calls):
        return "wrong function"
    located = [str(json.loads(c.arguments).get("location", "")).lower() for c in calls]
    matched = [city for city in cities if any(city.lower() in loc for loc in located)]
    expected = len(cities) if parallel else 1
    if len(calls) != expected or len(matched) != expected:
        return f"{len(calls)} calls for {expected} ({located})"
    if not all(TEMPERATURES[city] in (answer or "") for city in matched):
        return "answer lacks the temperature"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50, help="half streamed, half not (alternating)")
    parser.add_argument("--question", choices=sorted(QUESTIONS), default="sf")
    parser.add_argument("--no-parallel", action="store_true", help="send parallel_tool_calls: false")
    parser.add_argument("--route", choices=("chat", "responses", "messages"), default="chat")
    parser.add_argument("--model", default="default", help="the request's model name")
    parser.add_argument("--base-url", help="a running server (default: start fncall serve)")
    parser.add_argument("--server-args", default="", help="extra flags for the started server")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/seed_weather.json")
    args = parser.parse_args(argv)
    question, cities = QUESTIONS[args.question]
    runs: list[Run] = []
    with server_client(args.base_url, *SERVER_FLAGS, *args.server_args.split()) as client:
        for i in range(args.runs):
            stream = i % 2 == 1
            started = time.perf_counter()
            try:
                calls, answer = run_once(
                    client, args.route, args.model, question, stream, not args.no_parallel
                )
                reason = judge(calls, answer, cities, not args.no_parallel)
            except (openai.APIError, anthropic.APIError, json.JSONDecodeError) as exc:
                calls, answer, reason = [], None, f"error: {exc}"
            run = Run(
                i,
                stream,
                not reason,
                reason,
                [asdict(c) for c in calls],
                answer,
                round(time.perf_counter() - started, 2),
            )
            runs.append(run)
            print(
                f"{i:3d} {'stream' if stream else 'plain ':6} {'PASS' if run.passed else 'FAIL'} {reason}",
                flush=True,
            )
    passed = sum(r.passed for r in runs)
    streamed = [r for r in runs if r.stream]
    plain = [r for r in runs if not r.stream]
    print(
        f"\nroute: {args.route}, question: {question!r}{' (no parallel calls)' if args.no_parallel else ''}"
    )
    print("| runs | passed | streamed passed | non-streamed passed | mean s |")
    print("|---|---|---|---|---|")
    print(
        f"| {len(runs)} | {passed} | {sum(r.passed for r in streamed)}/{len(streamed)} | "
        f"{sum(r.passed for r in plain)}/{len(plain)} | {statistics.mean(r.seconds for r in runs):.1f} |"
    )
    reasons: dict[str, int] = {}
    for r in runs:
        if not r.passed:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {n} × {reason}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "route": args.route,
                "question": question,
                "parallel": not args.no_parallel,
                "passed": passed,
                "runs": [asdict(r) for r in runs],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
