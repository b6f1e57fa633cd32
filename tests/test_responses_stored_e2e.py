"""Stored responses end to end: real `fncall serve` processes on the tiny model, the official `openai` SDK,
a store file per test, restarts and a kill -9 under load. Bodies are validated against OpenAI's schema."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.openapi_contract import validate

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
GREEDY: dict[str, Any] = {"model": "tiny", "temperature": 0, "max_output_tokens": 8}
SERVE = ("--model", "tiny", "--ctx", "1024", "--threads", "1")


def serve(db: Path, *args: str) -> Server:
    return start_server(*SERVE, "--responses-db", str(db), *args)


def client(server: Server, key: str = "unused", prefix: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.root + prefix, api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stored") / "responses.sqlite3"


@pytest.fixture(scope="module")
def server(db: Path) -> Iterator[Server]:
    server = serve(db, "--parallel", "2")
    yield server
    stop_server(server)


@pytest.mark.parametrize("prefix", ["/v1", "/v1/openai"])
def test_store_retrieve_list_and_delete(server: Server, prefix: str) -> None:
    with client(server, prefix=prefix) as sdk:
        created = sdk.responses.create(input="Say hi.", instructions="Be brief.", **GREEDY)
        assert created.store is True
        got = sdk.responses.retrieve(created.id)
        raw = got.model_dump(mode="json", exclude_unset=True)
        validate("Response", raw)
        assert raw == created.model_dump(mode="json", exclude_unset=True)
        page = sdk.responses.input_items.list(created.id)
        [item] = page.data
        assert item.type == "message" and item.role == "user"  # type: ignore[union-attr]
        assert item.content[0].text == "Say hi."  # type: ignore[union-attr]
        listed = httpx.get(f"{server.root}{prefix}/responses/{created.id}/input_items").json()
        validate("ResponseItemList", listed)
        assert listed["first_id"] == listed["last_id"] == item.id and listed["has_more"] is False
        assert sdk.responses.delete(created.id) is None
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            sdk.responses.delete(created.id)


def test_store_false_keeps_nothing(server: Server) -> None:
    with client(server) as sdk:
        created = sdk.responses.create(input="Say hi.", store=False, **GREEDY)
        assert created.store is False
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(created.id)
        with pytest.raises(openai.BadRequestError) as info:
            sdk.responses.create(input="Again.", previous_response_id=created.id, **GREEDY)
        assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_a_streamed_response_is_stored_before_its_last_event(server: Server) -> None:
    with client(server) as sdk:
        with sdk.responses.stream(input="Say hi.", **GREEDY) as stream:
            events = list(stream)
        final = events[-1].response  # type: ignore[union-attr]
        got = sdk.responses.retrieve(final.id)
        assert got.output_text == final.output_text and got.status == final.status


@pytest.mark.parametrize(
    ("path", "query", "status", "param"),
    [
        ("/responses/resp_nope", "", 404, "response_id"),
        ("/responses/resp_nope/input_items", "", 404, "response_id"),
        ("/responses/resp_x/input_items", "?limit=0", 400, "limit"),
        ("/responses/resp_x/input_items", "?limit=101", 400, "limit"),
        ("/responses/resp_x/input_items", "?order=up", 400, "order"),
        ("/responses/resp_x", "?stream=true", 400, "stream"),
    ],
)
def test_bad_lookups_get_openai_errors(
    server: Server, path: str, query: str, status: int, param: str
) -> None:
    for prefix in ("/v1", "/v1/openai"):
        answer = httpx.get(server.root + prefix + path + query)
        assert answer.status_code == status, answer.text
        validate("ErrorResponse", answer.json())
        assert answer.json()["error"]["param"] == param
    gone = httpx.delete(server.root + "/v1/responses/resp_nope")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_previous_response_id_continues_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    first = serve(db, "--parallel", "1")
    try:
        with client(first) as sdk:
            ask = GREEDY | {"max_output_tokens": 40, "tools": [WEATHER], "tool_choice": "required"}
            asked = sdk.responses.create(input="Weather in Paris?", **ask)
    finally:
        stop_server(first)
    [call] = [item for item in asked.output if item.type == "function_call"]
    second = serve(db, "--parallel", "1")
    try:
        with client(second) as sdk:
            result = {"type": "function_call_output", "call_id": call.call_id, "output": "18 C, sunny"}
            answer = sdk.responses.create(
                input=[result], previous_response_id=asked.id, tools=[WEATHER], **GREEDY  # type: ignore[list-item]
            )  # fmt: skip
            assert answer.previous_response_id == asked.id and answer.status in ("completed", "incomplete")
            validate("Response", answer.model_dump(mode="json", exclude_unset=True))
            items = list(sdk.responses.input_items.list(answer.id, order="asc"))
            kinds = [item.type for item in items]
            assert kinds == ["message", *(item.type for item in asked.output), "function_call_output"]
            assert [item.id for item in items[1:-1]] == [item.id for item in asked.output]
            # the stored context really reached the model: the continuation's prompt is longer
            assert answer.usage and asked.usage and answer.usage.input_tokens > asked.usage.input_tokens
    finally:
        stop_server(second)


def test_a_custom_tool_call_is_stored_and_continued(server: Server) -> None:
    calc = {
        "type": "custom",
        "name": "calc",
        "format": {"type": "grammar", "syntax": "regex", "definition": r"[0-9]+ [*+] [0-9]+"},
    }
    with client(server) as sdk:
        ask: dict[str, Any] = GREEDY | {"max_output_tokens": 30, "tools": [calc], "tool_choice": "required"}
        asked = sdk.responses.create(input="12 times 7?", **ask)
        [call] = [item for item in asked.output if item.type == "custom_tool_call"]
        got = sdk.responses.retrieve(asked.id)
        validate("Response", got.model_dump(mode="json", exclude_unset=True, by_alias=True))
        assert got.output[-1].input == call.input  # type: ignore[union-attr]
        result = {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "84"}
        answer = sdk.responses.create(input=[result], previous_response_id=asked.id, tools=[calc], **GREEDY)  # type: ignore[list-item]  # fmt: skip
        listed = httpx.get(f"{server.root}/v1/responses/{answer.id}/input_items?order=asc").json()
        validate("ResponseItemList", listed)
        assert [item["type"] for item in listed["data"]][-2:] == [
            "custom_tool_call",
            "custom_tool_call_output",
        ]


def test_another_key_gets_404(tmp_path: Path) -> None:
    keyed = serve(tmp_path / "r.sqlite3", "--parallel", "1", "--api-key", "sk-alice", "--api-key", "sk-bob")
    try:
        with client(keyed, "sk-alice") as alice, client(keyed, "sk-bob") as bob:
            mine = alice.responses.create(input="Say hi.", **GREEDY)
            assert alice.responses.retrieve(mine.id).id == mine.id
            with pytest.raises(openai.NotFoundError):
                bob.responses.retrieve(mine.id)
            with pytest.raises(openai.NotFoundError):
                bob.responses.input_items.list(mine.id)
            with pytest.raises(openai.NotFoundError):
                bob.responses.delete(mine.id)
            with pytest.raises(openai.BadRequestError):
                bob.responses.create(input="Go on.", previous_response_id=mine.id, **GREEDY)
            # Anthropic's header names the same key, so the same tenant
            by_header = httpx.get(f"{keyed.root}/v1/responses/{mine.id}", headers={"x-api-key": "sk-alice"})
            assert by_header.status_code == 200
            alice.responses.delete(mine.id)
    finally:
        stop_server(keyed)


def test_kill_9_under_load_keeps_every_completed_response(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    server = serve(db, "--parallel", "2")
    done: list[tuple[str, str]] = []  # (id, output_text) of responses whose request completed
    cut: list[int] = []  # clients whose request was in flight at the kill
    lock = threading.Lock()
    stop = threading.Event()

    def load(n: int) -> None:
        with client(server) as sdk:
            while not stop.is_set():
                try:
                    response = sdk.responses.create(input=f"Count to {n}.", **GREEDY)
                except (openai.APIConnectionError, openai.APIStatusError):
                    cut.append(n)
                    return
                with lock:
                    done.append((response.id, response.output_text))

    workers = [threading.Thread(target=load, args=(n,)) for n in range(6)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 120
    while len(done) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.kill()  # SIGKILL with requests in flight (6 clients, 2 slots)
    server.process.wait()
    stop.set()
    for worker in workers:
        worker.join()
    assert len(done) >= 10 and cut  # some requests completed, some were cut off by the kill
    with closing(sqlite3.connect(db)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    restarted = serve(db, "--parallel", "1")
    try:
        with client(restarted) as sdk:
            for response_id, text in done:
                assert sdk.responses.retrieve(response_id).output_text == text
    finally:
        stop_server(restarted)


def test_the_stored_file_is_plain_sqlite(server: Server, db: Path) -> None:
    with client(server) as sdk:
        created = sdk.responses.create(input="Say hi.", **GREEDY)
    with closing(sqlite3.connect(db)) as raw:
        row = raw.execute(
            "SELECT response, input_items FROM responses WHERE id = ?", (created.id,)
        ).fetchone()
    assert json.loads(row[0])["id"] == created.id and json.loads(row[1])[0]["role"] == "user"
