"""The response store on its own: SQLite in a temporary folder, no model."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fncall.api.responses.store import MIGRATIONS, ResponseStore


def response(n: int, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": f"resp_{n}", "object": "response", "output": output or [{"id": f"msg_out{n}"}]}


def items(n: int) -> list[dict[str, Any]]:
    return [{"id": f"msg_{n}_{i}", "type": "message"} for i in range(3)]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = ResponseStore(tmp_path / "sub" / "r.sqlite3", max_age=3600, max_count=100)
    yield store
    store.close()


def test_a_stored_response_comes_back_with_its_context(store: ResponseStore) -> None:
    store.put(response(1), items(1), tenant="")
    found = store.get("resp_1", tenant="")
    assert found is not None and found.response == response(1)
    assert [i["id"] for i in found.context] == ["msg_1_0", "msg_1_1", "msg_1_2", "msg_out1"]
    assert store.get("resp_2", tenant="") is None


def test_another_tenant_sees_nothing_and_cannot_delete(store: ResponseStore) -> None:
    store.put(response(1), items(1), tenant="a" * 64)
    assert store.get("resp_1", tenant="b" * 64) is None
    assert store.get("resp_1", tenant="") is None
    assert store.input_items("resp_1", tenant="b" * 64) is None
    assert not store.delete("resp_1", tenant="b" * 64)
    assert store.delete("resp_1", tenant="a" * 64)
    assert store.get("resp_1", tenant="a" * 64) is None
    assert not store.delete("resp_1", tenant="a" * 64)


@pytest.mark.parametrize(
    ("kwargs", "ids", "has_more"),
    [
        ({}, ["msg_1_2", "msg_1_1", "msg_1_0"], False),
        ({"order": "asc"}, ["msg_1_0", "msg_1_1", "msg_1_2"], False),
        ({"order": "asc", "limit": 2}, ["msg_1_0", "msg_1_1"], True),
        ({"order": "asc", "limit": 2, "after": "msg_1_1"}, ["msg_1_2"], False),
        ({"limit": 1, "after": "msg_1_2"}, ["msg_1_1"], True),
        ({"after": "nope"}, [], False),
    ],
)
def test_input_items_page_as_openai_lists_do(
    store: ResponseStore, kwargs: dict[str, Any], ids: list[str], has_more: bool
) -> None:
    store.put(response(1), items(1), tenant="")
    page = store.input_items("resp_1", tenant="", **kwargs)
    assert page is not None and [i["id"] for i in page.items] == ids and page.has_more is has_more


def test_the_count_bound_drops_the_oldest(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.sqlite3", max_age=3600, max_count=3)
    for n in range(5):
        store.put(response(n), items(n), tenant="")
    assert store.count() == 3
    kept = [store.get(f"resp_{n}", tenant="") is not None for n in range(5)]
    assert kept == [False, False, True, True, True]
    store.close()


def test_the_age_bound_hides_then_drops_old_responses(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.sqlite3", max_age=0.2, max_count=100)
    store.put(response(1), items(1), tenant="")
    assert store.get("resp_1", tenant="") is not None
    time.sleep(0.3)
    assert store.get("resp_1", tenant="") is None  # expired, even before the next write prunes it
    store.put(response(2), items(2), tenant="")
    assert store.count() == 1
    store.close()


def test_the_file_survives_a_reopen_in_wal_mode_at_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    first = ResponseStore(path, max_age=3600, max_count=10)
    first.put(response(1), items(1), tenant="t")
    first.close()
    second = ResponseStore(path, max_age=3600, max_count=10)
    assert second.get("resp_1", tenant="t") is not None
    second.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_newer_schema_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    store = ResponseStore(path, max_age=3600, max_count=10)
    with pytest.raises(sqlite3.DatabaseError, match="newer"):
        store.get("resp_1", tenant="")


def test_writes_from_many_threads_and_two_connections_all_land(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    stores = [ResponseStore(path, max_age=3600, max_count=1000) for _ in range(2)]

    def write(k: int) -> None:
        for n in range(k * 20, k * 20 + 20):
            stores[k % 2].put(response(n), items(n), tenant="")

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stores[0].count() == 80
    for store in stores:
        store.close()


@pytest.mark.parametrize(("max_age", "max_count"), [(0, 10), (-1, 10), (10, 0)])
def test_bounds_must_be_positive(tmp_path: Path, max_age: float, max_count: int) -> None:
    with pytest.raises(ValueError, match="max_age"):
        ResponseStore(tmp_path / "r.sqlite3", max_age=max_age, max_count=max_count)


def test_the_default_file_is_in_the_model_cache_and_flags_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fncall.cli import _parser
    from fncall.config import ServerConfig

    monkeypatch.setenv("FNCALL_CACHE", str(tmp_path / "cache"))
    assert ServerConfig().responses_path == tmp_path / "cache" / "responses.sqlite3"
    assert ServerConfig(responses_db=tmp_path / "x.db").responses_path == tmp_path / "x.db"
    for bad in ({"responses_max_age": 0.0}, {"responses_max_count": 0}):
        with pytest.raises(ValueError, match="responses_max"):
            ServerConfig(**bad)  # type: ignore[arg-type]
    monkeypatch.setenv("FNCALL_RESPONSES_MAX_COUNT", "7")
    args = _parser().parse_args(["serve", "--responses-db", "a.db", "--responses-max-age", "0.5"])
    assert (args.responses_db, args.responses_max_age, args.responses_max_count) == (Path("a.db"), 0.5, 7)
