"""Multi-step agent tasks with mock tools: the decisions an agent loop depends on.

Five kinds, each a list of tasks in the same shape (bench/agent_tasks.py runs them):
- chain: a first result decides whether a second call is needed (a condition on it);
- fanout: one tool needed several times, or several tools, for one request;
- find_act: find something, then act on what was found (the second call uses the first result);
- recover: an error or an empty result, to report or work around without inventing;
- no_tool: requests no listed tool serves, to answer directly.

The mock tools are deterministic functions of their arguments and the task's `world`. Tasks alternate
between a development split (tuning) and a test split (reporting): see `split`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

World = Mapping[str, Any]


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


STR = {"type": "string"}
NUM = {"type": "number"}
INT = {"type": "integer"}

# name → (description, parameters)
SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "get_stock_price": ("Get the latest price of a stock in US dollars.", _obj({"symbol": STR}, ["symbol"])),
    "buy_shares": ("Buy shares of a stock.", _obj({"symbol": STR, "quantity": INT}, ["symbol", "quantity"])),
    "get_weather": (
        "Get the current weather in a city: temperature in Celsius and conditions.",
        _obj({"city": STR}, ["city"]),
    ),
    "book_taxi": (
        "Book a taxi from a pickup address at a time (HH:MM, 24h).",
        _obj({"pickup": STR, "time": STR}, ["pickup", "time"]),
    ),
    "get_flight_status": (
        "Get the status of a flight: on time or delayed, with the delay in minutes.",
        _obj({"flight_number": STR}, ["flight_number"]),
    ),
    "send_email": (
        "Send an email.",
        _obj({"to": STR, "subject": STR, "body": STR}, ["to", "subject", "body"]),
    ),
    "get_indoor_temperature": (
        "Get the indoor temperature of a room in Celsius.",
        _obj({"room": STR}, ["room"]),
    ),
    "set_thermostat": (
        "Set the thermostat to a temperature in Celsius.",
        _obj({"temperature": NUM}, ["temperature"]),
    ),
    "get_order_status": ("Get the status of an order by its id.", _obj({"order_id": STR}, ["order_id"])),
    "cancel_order": ("Cancel an order that has not shipped yet.", _obj({"order_id": STR}, ["order_id"])),
    "convert_currency": (
        "Convert an amount of money from one currency to another (ISO codes like USD, EUR).",
        _obj(
            {"amount": NUM, "from_currency": STR, "to_currency": STR},
            ["amount", "from_currency", "to_currency"],
        ),
    ),
    "translate": (
        "Translate a text into a target language.",
        _obj({"text": STR, "target_language": STR}, ["text", "target_language"]),
    ),
    "book_table": (
        "Reserve a table at a restaurant for a number of people at a time (HH:MM, 24h).",
        _obj({"restaurant": STR, "people": INT, "time": STR}, ["restaurant", "people", "time"]),
    ),
    "get_exchange_rate": (
        "Get the exchange rate between two currencies (ISO codes).",
        _obj({"from_currency": STR, "to_currency": STR}, ["from_currency", "to_currency"]),
    ),
    "search_contacts": (
        "Find a contact by name; returns matching contacts with their email.",
        _obj({"name": STR}, ["name"]),
    ),
    "find_restaurants": (
        "Find restaurants of a cuisine in a city.",
        _obj({"cuisine": STR, "city": STR}, ["cuisine", "city"]),
    ),
    "search_products": (
        "Search the shop's products; returns ids, names and prices.",
        _obj({"query": STR}, ["query"]),
    ),
    "add_to_cart": (
        "Add a product to the shopping cart.",
        _obj({"product_id": STR, "quantity": INT}, ["product_id", "quantity"]),
    ),
    "get_calendar": ("List the calendar events of a day (YYYY-MM-DD).", _obj({"date": STR}, ["date"])),
    "get_user_id": ("Look up a user's id from their username.", _obj({"username": STR}, ["username"])),
    "get_user_orders": ("List the orders of a user by user id.", _obj({"user_id": STR}, ["user_id"])),
    "list_files": ("List the files in a directory.", _obj({"directory": STR}, ["directory"])),
    "read_file": ("Read a text file.", _obj({"path": STR}, ["path"])),
}


def _key(text: Any) -> str:
    return str(text).strip().lower()


def _lookup(table: str, key: str, missing: str) -> Callable[[World, dict[str, Any]], Any]:
    def run(world: World, args: dict[str, Any]) -> Any:
        rows = {_key(k): v for k, v in world.get(table, {}).items()}
        return rows.get(_key(args.get(key, "")), {"error": missing.format(args.get(key))})

    return run


def _done(**fields: Any) -> Callable[[World, dict[str, Any]], Any]:
    def run(world: World, args: dict[str, Any]) -> Any:
        return {"status": "ok", **fields, **args}

    return run


def _taxi(world: World, args: dict[str, Any]) -> Any:
    hh, _, mm = str(args.get("time", "")).partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        return {"error": f"invalid time {args.get('time')!r}: use HH:MM between 00:00 and 23:59"}
    return {
        "status": "booked",
        "pickup": args.get("pickup"),
        "time": args.get("time"),
        "car": "Toyota Prius, KX-204",
    }


def _convert(world: World, args: dict[str, Any]) -> Any:
    rates = {_key(k): v for k, v in world.get("rates", {}).items()}
    pair = f"{_key(args.get('from_currency'))}-{_key(args.get('to_currency'))}"
    if pair not in rates:
        return {"error": f"no rate for {pair.upper()}"}
    return {
        "amount": round(float(args.get("amount", 0)) * rates[pair], 2),
        "currency": str(args.get("to_currency")).upper(),
    }


def _rate(world: World, args: dict[str, Any]) -> Any:
    rates = {_key(k): v for k, v in world.get("rates", {}).items()}
    pair = f"{_key(args.get('from_currency'))}-{_key(args.get('to_currency'))}"
    return {"rate": rates[pair]} if pair in rates else {"error": f"no rate for {pair.upper()}"}


def _translate(world: World, args: dict[str, Any]) -> Any:
    table = {(_key(t), _key(lang)): out for (t, lang), out in world.get("translations", {}).items()}
    out = table.get((_key(args.get("text")), _key(args.get("target_language"))))
    return {"translation": out} if out else {"error": "language not supported"}


def _search(table: str, key: str) -> Callable[[World, dict[str, Any]], Any]:
    def run(world: World, args: dict[str, Any]) -> Any:
        needle = _key(args.get(key, ""))
        hits = [
            row
            for k, rows in world.get(table, {}).items()
            if needle and (needle in _key(k) or _key(k) in needle)
            for row in rows
        ]
        return {"results": hits}

    return run


def _restaurants(world: World, args: dict[str, Any]) -> Any:
    rows = world.get("restaurants", {}).get((_key(args.get("cuisine")), _key(args.get("city"))), [])
    return {"results": rows}


def _read(world: World, args: dict[str, Any]) -> Any:
    files = world.get("files", {})
    path = str(args.get("path", ""))
    return {"content": files[path]} if path in files else {"error": f"No such file: {path}"}


def _list(world: World, args: dict[str, Any]) -> Any:
    directory = str(args.get("directory", "")).rstrip("/")
    names = [p.rsplit("/", 1)[1] for p in world.get("files", {}) if p.rsplit("/", 1)[0] == directory]
    return {"files": names} if names else {"error": f"No such directory: {directory}"}


IMPLEMENTATIONS: dict[str, Callable[[World, dict[str, Any]], Any]] = {
    "get_stock_price": _lookup("prices", "symbol", "unknown symbol {}"),
    "buy_shares": _done(order="filled"),
    "get_weather": _lookup("weather", "city", "unknown city {}"),
    "book_taxi": _taxi,
    "get_flight_status": _lookup("flights", "flight_number", "unknown flight {}"),
    "send_email": _done(message="sent"),
    "get_indoor_temperature": _lookup("rooms", "room", "unknown room {}"),
    "set_thermostat": _done(),
    "get_order_status": _lookup("orders", "order_id", "order {} not found"),
    "cancel_order": _done(order_status="cancelled"),
    "convert_currency": _convert,
    "translate": _translate,
    "book_table": _done(confirmation="R-5521"),
    "get_exchange_rate": _rate,
    "search_contacts": _search("contacts", "name"),
    "find_restaurants": _restaurants,
    "search_products": _search("products", "query"),
    "add_to_cart": _done(cart="updated"),
    "get_calendar": _lookup("calendar", "date", "no calendar for {}"),
    "get_user_id": _lookup("users", "username", "no user named {}"),
    "get_user_orders": _lookup("user_orders", "user_id", "no user with id {}"),
    "list_files": _list,
    "read_file": _read,
}


@dataclass(slots=True, frozen=True)
class Call:
    """An expected call: the tool and the arguments it must have (strings compared case-insensitively as
    substrings of the given value, numbers by value); other arguments are free."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, name: str, args: Mapping[str, Any]) -> bool:
        return name == self.name and all(_same(args.get(k), v) for k, v in self.args.items())


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or got is None:
        return got == want
    if isinstance(want, (int, float)):
        try:
            return abs(float(got) - want) < 1e-6
        except (TypeError, ValueError):
            return False
    return _key(want) in _key(got)


@dataclass(slots=True, frozen=True)
class Task:
    id: str
    kind: str
    tools: tuple[str, ...]
    ask: str
    world: Mapping[str, Any]
    expect: tuple[Call, ...] = ()
    forbid: tuple[str, ...] = ()  # tools that must not be called
    answer: tuple[tuple[str, ...], ...] = ()  # each: one of these must be in the final answer
    extra_calls: int = 1  # calls allowed beyond the expected ones (a harmless lookup, a retry)

    def openai_tools(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {"name": n, "description": SCHEMAS[n][0], "parameters": SCHEMAS[n][1]},
            }
            for n in self.tools
        ]

    def execute(self, name: str, args: dict[str, Any]) -> str:
        return json.dumps(IMPLEMENTATIONS[name](self.world, args))


STOCKS = ("get_stock_price", "buy_shares")
HOME = ("get_indoor_temperature", "set_thermostat", "get_weather")
ORDERS = ("get_order_status", "cancel_order")
TRAVEL = ("get_weather", "book_taxi", "get_flight_status", "send_email")
MONEY = ("convert_currency", "get_exchange_rate", "get_stock_price")
FOOD = ("find_restaurants", "book_table", "book_taxi")
SHOP = ("search_products", "add_to_cart", "get_order_status")
PEOPLE = ("search_contacts", "send_email", "get_calendar")
USERS = ("get_user_id", "get_user_orders", "get_order_status")
FILES = ("list_files", "read_file", "send_email")

TASKS: tuple[Task, ...] = (
    # -- chain: the first result decides the next call ------------------------------------------------
    Task(
        "chain_buy_below",
        "chain",
        STOCKS,
        "Check the price of ACME. If it is below 100 dollars, buy 10 shares.",
        {"prices": {"ACME": {"symbol": "ACME", "price": 87.5}}},
        (Call("get_stock_price", {"symbol": "ACME"}), Call("buy_shares", {"symbol": "ACME", "quantity": 10})),
    ),
    Task(
        "chain_no_buy_above",
        "chain",
        STOCKS,
        "Check the price of GLOBEX. If it is below 50 dollars, buy 20 shares.",
        {"prices": {"GLOBEX": {"symbol": "GLOBEX", "price": 64.2}}},
        (Call("get_stock_price", {"symbol": "GLOBEX"}),),
        forbid=("buy_shares",),
        answer=(("64.2",),),
    ),
    Task(
        "chain_rain_taxi",
        "chain",
        TRAVEL,
        "What's the weather in Oslo? If it's raining, book me a taxi from home at 18:00.",
        {"weather": {"Oslo": {"city": "Oslo", "temperature_c": 6, "conditions": "heavy rain"}}},
        (Call("get_weather", {"city": "Oslo"}), Call("book_taxi", {"pickup": "home", "time": "18:00"})),
    ),
    Task(
        "chain_sun_no_taxi",
        "chain",
        TRAVEL,
        "What's the weather in Madrid? If it's raining, book me a taxi from the office at 17:30.",
        {"weather": {"Madrid": {"city": "Madrid", "temperature_c": 24, "conditions": "sunny"}}},
        (Call("get_weather", {"city": "Madrid"}),),
        forbid=("book_taxi",),
        answer=(("sunny", "24"),),
    ),
    Task(
        "chain_delay_email",
        "chain",
        TRAVEL,
        "Check flight LH123. If it is delayed by more than an hour, email my boss at "
        "boss@corp.example that I will be late.",
        {"flights": {"LH123": {"flight_number": "LH123", "status": "delayed", "delay_minutes": 95}}},
        (
            Call("get_flight_status", {"flight_number": "LH123"}),
            Call("send_email", {"to": "boss@corp.example"}),
        ),
    ),
    Task(
        "chain_cold_thermostat",
        "chain",
        HOME,
        "Is the living room colder than 19 degrees? If so, set the thermostat to 21.",
        {"rooms": {"living room": {"room": "living room", "temperature_c": 17.0}}},
        (
            Call("get_indoor_temperature", {"room": "living room"}),
            Call("set_thermostat", {"temperature": 21}),
        ),
    ),
    Task(
        "chain_unshipped_cancel",
        "chain",
        ORDERS,
        "Check the status of order 5521. If it hasn't shipped yet, cancel it.",
        {"orders": {"5521": {"order_id": "5521", "status": "processing", "shipped": False}}},
        (Call("get_order_status", {"order_id": "5521"}), Call("cancel_order", {"order_id": "5521"})),
    ),
    Task(
        "chain_shipped_keep",
        "chain",
        ORDERS,
        "Check the status of order 7730. If it hasn't shipped yet, cancel it.",
        {"orders": {"7730": {"order_id": "7730", "status": "shipped", "shipped": True, "carrier": "UPS"}}},
        (Call("get_order_status", {"order_id": "7730"}),),
        forbid=("cancel_order",),
        answer=(("shipped",),),
    ),
    # -- fanout: one tool several times, or several tools -------------------------------------------
    Task(
        "fan_weather_two",
        "fanout",
        TRAVEL,
        "What's the weather like in Tokyo and in Paris?",
        {
            "weather": {
                "Tokyo": {"city": "Tokyo", "temperature_c": 18, "conditions": "cloudy"},
                "Paris": {"city": "Paris", "temperature_c": 12, "conditions": "rain"},
            }
        },
        (Call("get_weather", {"city": "Tokyo"}), Call("get_weather", {"city": "Paris"})),
        answer=(("18",), ("12",)),
    ),
    Task(
        "fan_three_prices",
        "fanout",
        STOCKS,
        "Get me the current prices of AAPL, MSFT and NVDA.",
        {
            "prices": {
                "AAPL": {"symbol": "AAPL", "price": 231.4},
                "MSFT": {"symbol": "MSFT", "price": 418.9},
                "NVDA": {"symbol": "NVDA", "price": 142.6},
            }
        },
        (
            Call("get_stock_price", {"symbol": "AAPL"}),
            Call("get_stock_price", {"symbol": "MSFT"}),
            Call("get_stock_price", {"symbol": "NVDA"}),
        ),
        forbid=("buy_shares",),
        answer=(("231.4",), ("418.9",), ("142.6",)),
    ),
    Task(
        "fan_convert_two",
        "fanout",
        MONEY,
        "Convert 100 USD to EUR and also to JPY.",
        {"rates": {"USD-EUR": 0.92, "USD-JPY": 151.3}},
        (
            Call("convert_currency", {"amount": 100, "from_currency": "USD", "to_currency": "EUR"}),
            Call("convert_currency", {"amount": 100, "from_currency": "USD", "to_currency": "JPY"}),
        ),
        answer=(("92",), ("15130", "15,130")),
    ),
    Task(
        "fan_translate_two",
        "fanout",
        ("translate", "send_email"),
        "Translate 'good morning' into French and into Spanish.",
        {"translations": {("good morning", "French"): "bonjour", ("good morning", "Spanish"): "buenos días"}},
        (
            Call("translate", {"text": "good morning", "target_language": "French"}),
            Call("translate", {"text": "good morning", "target_language": "Spanish"}),
        ),
        answer=(("bonjour",), ("buenos",)),
    ),
    Task(
        "fan_email_two",
        "fanout",
        PEOPLE,
        "Email alice@example.com with the subject 'Standup moved' saying 'Standup is at 10:30 today.', "
        "and email bob@example.com with the subject 'Lunch' saying 'Lunch is at noon.'",
        {},
        (
            Call("send_email", {"to": "alice@example.com", "subject": "Standup moved"}),
            Call("send_email", {"to": "bob@example.com", "subject": "Lunch"}),
        ),
    ),
    Task(
        "fan_table_and_taxi",
        "fanout",
        FOOD,
        "Book a table for 2 at Luigi's at 19:00, and a taxi from the office at 18:30.",
        {},
        (
            Call("book_table", {"restaurant": "Luigi", "people": 2, "time": "19:00"}),
            Call("book_taxi", {"pickup": "office", "time": "18:30"}),
        ),
    ),
    Task(
        "fan_weather_and_rate",
        "fanout",
        ("get_weather", "get_exchange_rate", "book_taxi"),
        "What's the weather in Berlin, and what's the exchange rate from EUR to USD?",
        {
            "weather": {"Berlin": {"city": "Berlin", "temperature_c": 9, "conditions": "windy"}},
            "rates": {"EUR-USD": 1.08},
        },
        (
            Call("get_weather", {"city": "Berlin"}),
            Call("get_exchange_rate", {"from_currency": "EUR", "to_currency": "USD"}),
        ),
        answer=(("1.08",),),
    ),
    Task(
        "fan_two_orders",
        "fanout",
        ORDERS,
        "What's the status of my orders 1001 and 1002?",
        {
            "orders": {
                "1001": {"order_id": "1001", "status": "delivered"},
                "1002": {"order_id": "1002", "status": "in transit"},
            }
        },
        (Call("get_order_status", {"order_id": "1001"}), Call("get_order_status", {"order_id": "1002"})),
        forbid=("cancel_order",),
        answer=(("delivered",), ("transit",)),
    ),
    # -- find_act: the second call uses what the first one found ------------------------------------
    Task(
        "find_contact_email",
        "find_act",
        PEOPLE,
        "Find Dana Scully's email address and send her an email with the subject 'Report' saying "
        "'The report is ready.'",
        {"contacts": {"Dana Scully": [{"name": "Dana Scully", "email": "d.scully@fbi.example"}]}},
        (
            Call("search_contacts", {"name": "Scully"}),
            Call("send_email", {"to": "d.scully@fbi.example", "subject": "Report"}),
        ),
    ),
    Task(
        "find_restaurant_book",
        "find_act",
        FOOD,
        "Find an Italian restaurant in Boston and book a table there for 4 people at 20:00.",
        {"restaurants": {("italian", "boston"): [{"name": "Trattoria Il Panino", "rating": 4.6}]}},
        (
            Call("find_restaurants", {"cuisine": "italian", "city": "Boston"}),
            Call("book_table", {"restaurant": "Il Panino", "people": 4, "time": "20:00"}),
        ),
    ),
    Task(
        "find_cheapest_cart",
        "find_act",
        SHOP,
        "Search for a USB-C cable and add the cheapest one to my cart.",
        {
            "products": {
                "usb-c cable": [
                    {"id": "P-88", "name": "USB-C cable 2 m", "price": 12.99},
                    {"id": "P-17", "name": "USB-C cable 1 m", "price": 7.49},
                    {"id": "P-91", "name": "USB-C cable braided", "price": 15.0},
                ]
            }
        },
        (
            Call("search_products", {"query": "usb-c"}),
            Call("add_to_cart", {"product_id": "P-17", "quantity": 1}),
        ),
    ),
    Task(
        "find_calendar_email",
        "find_act",
        PEOPLE,
        "What's on my calendar on 2026-12-03? Email the list to me at me@example.com.",
        {
            "calendar": {
                "2026-12-03": {
                    "events": [
                        {"time": "09:00", "title": "Dentist"},
                        {"time": "14:00", "title": "Budget review"},
                    ]
                }
            }
        },
        (
            Call("get_calendar", {"date": "2026-12-03"}),
            Call("send_email", {"to": "me@example.com", "body": "Budget review"}),
        ),
    ),
    Task(
        "find_user_orders",
        "find_act",
        USERS,
        "Look up the user 'jdoe' and show me their orders.",
        {
            "users": {"jdoe": {"username": "jdoe", "user_id": "U-4471"}},
            "user_orders": {
                "U-4471": {
                    "orders": [{"order_id": "A-100", "total": 35.5}, {"order_id": "A-131", "total": 12.0}]
                }
            },
        },
        (Call("get_user_id", {"username": "jdoe"}), Call("get_user_orders", {"user_id": "U-4471"})),
        answer=(("A-100",),),
    ),
    Task(
        "find_file_read",
        "find_act",
        FILES,
        "List the files in /reports and read the one about Q3.",
        {
            "files": {
                "/reports/q2_summary.txt": "Revenue 1.2M.",
                "/reports/q3_summary.txt": "Revenue 1.5M, up 25%.",
                "/reports/team.txt": "Five people.",
            }
        },
        (
            Call("list_files", {"directory": "/reports"}),
            Call("read_file", {"path": "/reports/q3_summary.txt"}),
        ),
        answer=(("1.5M", "1.5 M", "1.5 million"),),
    ),
    Task(
        "find_price_budget",
        "find_act",
        STOCKS,
        "Find the price of TSLA and buy as many whole shares as 1000 dollars allow.",
        {"prices": {"TSLA": {"symbol": "TSLA", "price": 250.0}}},
        (Call("get_stock_price", {"symbol": "TSLA"}), Call("buy_shares", {"symbol": "TSLA", "quantity": 4})),
    ),
    Task(
        "find_meeting_weather",
        "find_act",
        ("get_calendar", "get_weather", "send_email"),
        "Where is my meeting on 2026-12-01? Get me the weather there.",
        {
            "calendar": {
                "2026-12-01": {"events": [{"time": "11:00", "title": "Client meeting", "city": "Lisbon"}]}
            },
            "weather": {"Lisbon": {"city": "Lisbon", "temperature_c": 16, "conditions": "clear"}},
        },
        (Call("get_calendar", {"date": "2026-12-01"}), Call("get_weather", {"city": "Lisbon"})),
        answer=(("16",),),
    ),
    # -- recover: errors and empty results ----------------------------------------------------------
    Task(
        "recover_missing_file",
        "recover",
        FILES,
        "Read the file /notes/todo.txt and tell me what's in it.",
        {"files": {"/notes/todo.md": "Buy milk. Call the plumber.", "/notes/ideas.md": "A bike trip."}},
        (Call("read_file", {"path": "/notes/todo"}),),
        answer=(("milk", "no such file", "not found", "doesn't exist", "does not exist"),),
        extra_calls=2,
    ),
    Task(
        "recover_no_contact",
        "recover",
        PEOPLE,
        "Find Fox Mulder's email address and email him 'Meeting at 3'.",
        {"contacts": {"Dana Scully": [{"name": "Dana Scully", "email": "d.scully@fbi.example"}]}},
        (Call("search_contacts", {"name": "Mulder"}),),
        forbid=("send_email",),
        answer=(
            (
                "not find",
                "no contact",
                "couldn't find",
                "could not find",
                "no results",
                "not found",
                "unable",
            ),
        ),
    ),
    Task(
        "recover_unknown_order",
        "recover",
        ORDERS,
        "What's the status of order 9999?",
        {"orders": {}},
        (Call("get_order_status", {"order_id": "9999"}),),
        forbid=("cancel_order",),
        answer=(
            ("not found", "no order", "doesn't exist", "does not exist", "couldn't find", "could not find"),
        ),
    ),
    Task(
        "recover_unknown_symbol",
        "recover",
        STOCKS,
        "What's the stock price of ZQXW?",
        {"prices": {}},
        (Call("get_stock_price", {"symbol": "ZQXW"}),),
        forbid=("buy_shares",),
        answer=(("unknown", "not found", "invalid", "couldn't", "could not", "unable", "no price"),),
    ),
    Task(
        "recover_bad_time",
        "recover",
        FOOD,
        "Book a taxi from the station at 25:00.",
        {},
        (Call("book_taxi", {"pickup": "station"}),),
        answer=(("invalid", "25:00", "valid time", "00:00"),),
    ),
    Task(
        "recover_no_product",
        "recover",
        SHOP,
        "Search for a flux capacitor and add it to my cart.",
        {"products": {}},
        (Call("search_products", {"query": "flux capacitor"}),),
        forbid=("add_to_cart",),
        answer=(("no ", "not find", "couldn't", "could not", "unavailable", "not available", "none"),),
    ),
    # -- no_tool: nothing listed serves the request -------------------------------------------------
    Task(
        "none_haiku",
        "no_tool",
        ("get_weather", "get_stock_price"),
        "Write a haiku about autumn leaves.",
        {},
        forbid=tuple(SCHEMAS),
        extra_calls=0,
    ),
    Task(
        "none_arithmetic",
        "no_tool",
        PEOPLE,
        "What is 17 times 23?",
        {},
        forbid=tuple(SCHEMAS),
        answer=(("391",),),
        extra_calls=0,
    ),
    Task(
        "none_capital",
        "no_tool",
        ("get_weather", "book_taxi"),
        "What's the capital of Australia?",
        {},
        forbid=tuple(SCHEMAS),
        answer=(("Canberra",),),
        extra_calls=0,
    ),
    Task(
        "none_rest",
        "no_tool",
        ORDERS,
        "Explain what a REST API is in one sentence.",
        {},
        forbid=tuple(SCHEMAS),
        answer=(("http", "web", "resource", "internet", "communicat"),),
        extra_calls=0,
    ),
    Task(
        "none_thanks",
        "no_tool",
        PEOPLE,
        "Thanks, that's all for today!",
        {},
        forbid=tuple(SCHEMAS),
        extra_calls=0,
    ),
    Task(
        "none_german",
        "no_tool",
        SHOP,
        "How do you say 'thank you' in German?",
        {},
        forbid=tuple(SCHEMAS),
        answer=(("danke",),),
        extra_calls=0,
    ),
)


def split(task: Task) -> str:
    """'dev' or 'test': tasks alternate within each kind, so both splits hold every kind."""
    same_kind = [t.id for t in TASKS if t.kind == task.kind]
    return "dev" if same_kind.index(task.id) % 2 == 0 else "test"
