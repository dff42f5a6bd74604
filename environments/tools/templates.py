"""Task templates: each turns a world into a task (instruction, the expert's calls, its answer and the checks).

A template returns None when the world has nothing it can use (the generator then draws another world). With
`test=True` a template picks its targets (contact, item, event title, file, fact key, text, numbers) only from the
held-out entities, and with `test=False` only from the others, so a test task never names what a train task does.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from environments.tools.arith import evaluate
from environments.tools.calls import ToolCall
from environments.tools.tools import convert
from environments.tools.vocab import (
    COUNTRIES,
    EVENT_TITLES,
    FACT_WORDS,
    FACTS,
    FILE_PATHS,
    FILE_TEXTS,
    FIRST_NAMES,
    LAST_NAMES,
    MESSAGE_BODIES,
    MONTH,
    TASK_DAYS,
    TIMES,
    UNIT_WORDS,
)
from environments.tools.world import World

HELD_OUT_PERCENT = 25
"""Share of each kind of entity kept for the test split."""
ASK_DATE = ("date", "when", "which day", "what day")
"""An answer asking for a missing date contains one of these."""
ASK_QUANTITY = ("how many", "quantity", "number of")
"""An answer asking for a missing quantity contains one of these."""
REFUSALS = ("can't", "cannot", "can not", "unable", "not able")
"""An answer declining a task no tool can do contains one of these."""
CONVERSIONS: tuple[tuple[str, str, int, int], ...] = (
    ("km", "mi", 2, 200), ("mi", "km", 2, 200), ("kg", "lb", 2, 120), ("lb", "kg", 2, 250), ("c", "f", -20, 40),
    ("f", "c", 2, 110), ("l", "gal", 2, 80), ("gal", "l", 2, 30), ("m", "ft", 2, 500), ("ft", "m", 2, 900),
    ("cm", "in", 2, 250), ("in", "cm", 2, 100), ("g", "oz", 10, 900), ("oz", "g", 2, 40),
)  # fmt: skip
"""(from unit, to unit, smallest value, largest value) of the conversion tasks."""
REQUESTS: tuple[tuple[str, str], ...] = (
    ("Book me a flight to {city} on {date}.", "book flights"),
    ("Call {name} on the phone.", "make phone calls"),
    ("What will the weather be in {city} tomorrow?", "check the weather"),
    ("Turn off the lights in the {room}.", "control the lights"),
    ("Pay my {bill} bill.", "pay bills"),
    ("Book a table for two in {city} tonight.", "book restaurants"),
    ("Translate '{body}' into {language}.", "translate text"),
)
"""Requests no tool can do: (instruction, what the expert says it cannot do)."""
_ROOMS = ("kitchen", "bedroom", "living room", "office")
_BILLS = ("electricity", "water", "phone", "internet")
_LANGUAGES = ("French", "Spanish", "German", "Japanese")

T = TypeVar("T")


@dataclass(frozen=True)
class Draft:
    """A task made from a template on one world, before its tools are offered."""

    instruction: str
    """What the agent is asked."""
    calls: tuple[ToolCall, ...]
    """The expert's calls, in order (empty for ask and refuse tasks)."""
    answer: str
    """The expert's final answer."""
    needs: tuple[str, ...] = ()
    """Tools the task is about besides those of `calls` (what an ask task would use once told)."""
    answer_checks: tuple[tuple[str, ...], ...] = ()
    """Groups of phrases; the final answer must contain one phrase of every group."""
    text_checks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """`message:<email>` / `file:<path>` -> phrases that message body or file content must contain."""
    kind: str = "act"
    """`act` (do it), `ask` (ask for `missing`) or `refuse` (no tool can do it)."""
    missing: str = ""
    """The argument an ask task lacks."""

    def tools(self) -> tuple[str, ...]:
        """The tools the task needs, in the order first used."""
        return tuple(dict.fromkeys([*(c.name for c in self.calls), *self.needs]))


Template = Callable[[random.Random, World, bool], Draft | None]
"""(rng, world, test) -> a task, or None when the world does not suit."""


def held_out(kind: str, key: str) -> bool:
    """Whether entity `key` of `kind` is kept for the test split (a fixed hash, `HELD_OUT_PERCENT` of each kind)."""
    digest = hashlib.sha256(f"tools/held-out/{kind}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < HELD_OUT_PERCENT


def _pick(rng: random.Random, options: Sequence[T], kind: str, test: bool, key: Callable[[T], str] = str) -> T | None:
    fitting = [o for o in options if held_out(kind, key(o)) == test]
    return rng.choice(fitting) if fitting else None


def _call(tool: str, /, **arguments: Any) -> ToolCall:
    return ToolCall(tool, arguments)


def _plural(name: str, quantity: int) -> str:
    return name if quantity == 1 else name + "s"


def _money(value: float) -> str:
    return f"{round(value, 2):.2f}"


def _date(rng: random.Random) -> str:
    return f"{MONTH}-{rng.choice(TASK_DAYS):02d}"


def _fact_pick(rng: random.Random, test: bool) -> tuple[str, str, str | int] | None:
    topic = rng.choice(sorted(FACTS))
    key = _pick(rng, sorted(FACTS[topic]), "fact", test)
    return None if key is None else (topic, key, FACTS[topic][key])


def fact(rng: random.Random, w: World, test: bool) -> Draft | None:
    picked = _fact_pick(rng, test)
    if picked is None:
        return None
    topic, key, value = picked
    word = FACT_WORDS[topic]
    text = rng.choice([f"What is the {word} of {key}?", f"Look up the {word} of {key}."])
    return Draft(text, (_call("facts_lookup", topic=topic, key=key),), f"The {word} of {key} is {value}.",
                 answer_checks=((str(value),),))  # fmt: skip


def convert_task(rng: random.Random, w: World, test: bool) -> Draft | None:
    src, dst, low, high = rng.choice(CONVERSIONS)
    values = [v for v in range(low, high + 1) if abs(v) != 1]  # "1 degrees" reads badly
    value = _pick(rng, values, "number", test, key=lambda v: f"{src}-{dst}-{v}")
    if value is None:
        return None
    result = _money(convert(value, src, dst))
    a, b = UNIT_WORDS[src], UNIT_WORDS[dst]
    text = rng.choice([f"Convert {value} {a} to {b}.", f"How many {b} is {value} {a}?"])
    call = _call("convert_units", value=value, from_unit=src, to_unit=dst)
    return Draft(text, (call,), f"{value} {a} is {result} {b}.", answer_checks=((result,),))


def calculate(rng: random.Random, w: World, test: bool) -> Draft | None:
    a, b, c = rng.randint(2, 60), rng.randint(2, 30), rng.randint(2, 12)
    expression = rng.choice([f"{a} + {b} * {c}", f"({a} + {b}) * {c}", f"{a} * {b} - {c}", f"{a} * {b}",
                             f"{b * c} / {c}", f"{a} - {b} + {c}"])  # fmt: skip
    if held_out("number", expression) != test:
        return None
    value = evaluate(expression)
    text = rng.choice([f"What is {expression}?", f"Calculate {expression}.", f"Work out {expression} for me."])
    return Draft(text, (_call("calculate", expression=expression),), f"{expression} = {value}.",
                 answer_checks=((str(value),),))  # fmt: skip


def message(rng: random.Random, w: World, test: bool) -> Draft | None:
    contact = _pick(rng, w.contacts, "contact", test, key=lambda c: c.name)
    body = _pick(rng, MESSAGE_BODIES, "body", test)
    if contact is None or body is None:
        return None
    name = contact.name
    text = rng.choice([f"Send {name} a message saying '{body}'.", f"Text {name}: '{body}'.",
                       f"Tell {name} '{body}'."])  # fmt: skip
    calls = (_call("contacts_search", name=name), _call("messages_send", to=contact.email, body=body))
    return Draft(text, calls, f"I sent {name} the message.", text_checks={f"message:{contact.email}": (body,)})


def add_event(rng: random.Random, w: World, test: bool) -> Draft | None:
    taken = {e.title for e in w.events.values()}
    title = _pick(rng, [t for t in EVENT_TITLES if t not in taken], "title", test)
    if title is None:
        return None
    date, time = _date(rng), rng.choice(TIMES)
    text = rng.choice([f"Add '{title}' to my calendar on {date} at {time}.",
                       f"Put '{title}' on my calendar for {date} at {time}.",
                       f"Schedule '{title}' on {date} at {time}."])  # fmt: skip
    call = _call("calendar_add", date=date, time=time, title=title)
    return Draft(text, (call,), f"I added '{title}' on {date} at {time} to your calendar.")


def delete_event(rng: random.Random, w: World, test: bool) -> Draft | None:
    event = _pick(rng, list(w.events.values()), "title", test, key=lambda e: e.title)
    if event is None:
        return None
    text = rng.choice([f"Remove the '{event.title}' event on {event.date} from my calendar.",
                       f"Delete '{event.title}' on {event.date} from my calendar."])  # fmt: skip
    calls = (_call("calendar_list", date=event.date), _call("calendar_delete", event_id=event.id))
    return Draft(text, calls, f"I removed '{event.title}' from {event.date}.")


def order(rng: random.Random, w: World, test: bool) -> Draft | None:
    in_stock = [i for i in w.items.values() if w.stock[i.id] > 0]
    item = _pick(rng, in_stock, "item", test, key=lambda i: i.name)
    if item is None:
        return None
    quantity = rng.randint(1, min(4, w.stock[item.id]))
    goods = f"{quantity} {_plural(item.name, quantity)}"
    text = rng.choice([f"Order {goods}.", f"Please buy {goods} from the shop."])
    calls = (_call("shop_search", query=item.name), _call("shop_order", item_id=item.id, quantity=quantity))
    return Draft(text, calls, f"I ordered {goods}.")


def cancel_order(rng: random.Random, w: World, test: bool) -> Draft | None:
    placed = list(w.orders.values())
    picked = _pick(rng, placed, "item", test, key=lambda o: w.items[o.item_id].name)
    if picked is None:
        return None
    goods = f"{picked.quantity} {_plural(w.items[picked.item_id].name, picked.quantity)}"
    text = rng.choice([f"Cancel my order of {goods}.", f"I no longer want the {goods} I ordered; cancel that order."])
    calls = (_call("orders_list"), _call("order_cancel", order_id=picked.id))
    return Draft(text, calls, f"I cancelled order {picked.id} of {goods}.")


def add_contact(rng: random.Random, w: World, test: bool) -> Draft | None:
    names = {c.name for c in w.contacts}
    firsts = {c.name.split()[0] for c in w.contacts}
    options = [f"{f} {last}" for f in FIRST_NAMES if f not in firsts for last in LAST_NAMES]
    name = _pick(rng, [n for n in options if n not in names], "contact", test)
    if name is None:
        return None
    email = name.replace(" ", ".").lower() + "@example.com"
    arguments = {"name": name, "email": email}
    text = f"Add {name} to my contacts with the email {email}"
    if rng.random() < 0.5:
        arguments["phone"] = f"555-0{rng.randint(100, 999)}"
        text += f" and the phone number {arguments['phone']}"
    return Draft(text + ".", (ToolCall("contacts_add", arguments),), f"I added {name} to your contacts.")


def read_file(rng: random.Random, w: World, test: bool) -> Draft | None:
    path = _pick(rng, sorted(w.files), "file", test)
    if path is None:
        return None
    content = w.files[path]
    text = rng.choice([f"What does the file {path} say?", f"Read {path} and tell me what it says.",
                       f"Tell me what is written in {path}."])  # fmt: skip
    return Draft(text, (_call("files_read", path=path),), f"{path} says: {content}", answer_checks=((content,),))


def write_file(rng: random.Random, w: World, test: bool) -> Draft | None:
    path = _pick(rng, FILE_PATHS, "file", test)
    content = _pick(rng, [t for t in FILE_TEXTS if t != w.files.get(path or "")], "text", test)
    if path is None or content is None:
        return None
    text = rng.choice([f"Write '{content}' into the file {path}.", f"Save '{content}' in {path}."])
    return Draft(text, (_call("files_write", path=path, content=content),), f"I wrote it to {path}.",
                 text_checks={f"file:{path}": (content,)})  # fmt: skip


def _priced(rng: random.Random, w: World, test: bool) -> tuple[str, str, tuple[ToolCall, ...]] | None:
    """Goods, their total price and the calls that find it (search, then calculate)."""
    item = _pick(rng, list(w.items.values()), "item", test, key=lambda i: i.name)
    if item is None:
        return None
    quantity = rng.randint(2, 6)
    calls = (_call("shop_search", query=item.name), _call("calculate", expression=f"{quantity} * {item.price}"))
    return f"{quantity} {_plural(item.name, quantity)}", _money(quantity * item.price), calls


def price(rng: random.Random, w: World, test: bool) -> Draft | None:
    priced = _priced(rng, w, test)
    if priced is None:
        return None
    goods, total, calls = priced
    text = rng.choice([f"How much do {goods} cost in total?", f"What is the total price of {goods}?"])
    return Draft(text, calls, f"{goods} cost {total} in total.", answer_checks=((total,),))


def ask_date(rng: random.Random, w: World, test: bool) -> Draft | None:
    taken = {e.title for e in w.events.values()}
    title = _pick(rng, [t for t in EVENT_TITLES if t not in taken], "title", test)
    if title is None:
        return None
    text = rng.choice([f"Add a meeting called '{title}' to my calendar.",
                       f"Put '{title}' on my calendar at {rng.choice(TIMES)}."])  # fmt: skip
    return Draft(text, (), f"Which date should I put '{title}' on?", needs=("calendar_add",),
                 answer_checks=(ASK_DATE,), kind="ask", missing="date")  # fmt: skip


def ask_quantity(rng: random.Random, w: World, test: bool) -> Draft | None:
    item = _pick(rng, list(w.items.values()), "item", test, key=lambda i: i.name)
    if item is None:
        return None
    goods = _plural(item.name, 2)
    text = rng.choice([f"Order some {goods} for me.", f"Buy {goods} for me from the shop."])
    return Draft(text, (), f"How many {goods} should I order?", needs=("shop_search", "shop_order"),
                 answer_checks=(ASK_QUANTITY,), kind="ask", missing="quantity")  # fmt: skip


def refuse(rng: random.Random, w: World, test: bool) -> Draft | None:
    request, ability = rng.choice(REQUESTS)
    text = request.format(
        city=rng.choice([v[0] for v in COUNTRIES.values()]), date=_date(rng), name=rng.choice(w.contacts).name,
        room=rng.choice(_ROOMS), bill=rng.choice(_BILLS), body=rng.choice(MESSAGE_BODIES),
        language=rng.choice(_LANGUAGES),
    )  # fmt: skip
    if held_out("request", text) != test:
        return None
    return Draft(text, (), f"Sorry, I cannot {ability} with the tools I have.", answer_checks=(REFUSALS,),
                 kind="refuse")  # fmt: skip


def fact_to_file(rng: random.Random, w: World, test: bool) -> Draft | None:
    picked = _fact_pick(rng, test)
    if picked is None:
        return None
    topic, key, value = picked
    word = FACT_WORDS[topic]
    path = f"{key.lower().replace(' ', '_')}_{topic}.txt"
    text = f"Look up the {word} of {key} and write it into the file {path}."
    calls = (_call("facts_lookup", topic=topic, key=key), _call("files_write", path=path, content=str(value)))
    return Draft(text, calls, f"I wrote the {word} of {key} ({value}) into {path}.",
                 text_checks={f"file:{path}": (str(value),)})  # fmt: skip


def price_message(rng: random.Random, w: World, test: bool) -> Draft | None:
    priced = _priced(rng, w, test)
    contact = _pick(rng, w.contacts, "contact", test, key=lambda c: c.name)
    if priced is None or contact is None:
        return None
    goods, total, calls = priced
    text = f"Tell {contact.name} how much {goods} cost in total."
    calls += (_call("contacts_search", name=contact.name),
              _call("messages_send", to=contact.email, body=f"{goods} cost {total} in total."))  # fmt: skip
    return Draft(text, calls, f"I told {contact.name} that {goods} cost {total}.",
                 text_checks={f"message:{contact.email}": (total,)})  # fmt: skip


def file_message(rng: random.Random, w: World, test: bool) -> Draft | None:
    path = _pick(rng, sorted(w.files), "file", test)
    contact = _pick(rng, w.contacts, "contact", test, key=lambda c: c.name)
    if path is None or contact is None:
        return None
    content = w.files[path]
    text = rng.choice([f"Send the contents of {path} to {contact.name}.", f"Message {contact.name} what {path} says."])
    calls = (_call("files_read", path=path), _call("contacts_search", name=contact.name),
             _call("messages_send", to=contact.email, body=content))  # fmt: skip
    return Draft(text, calls, f"I sent {contact.name} the text of {path}.",
                 text_checks={f"message:{contact.email}": (content,)})  # fmt: skip


TEMPLATES: dict[str, Template] = {
    "fact": fact, "convert": convert_task, "calculate": calculate, "message": message, "add_event": add_event,
    "delete_event": delete_event, "order": order, "cancel_order": cancel_order, "add_contact": add_contact,
    "read_file": read_file, "write_file": write_file, "price": price, "ask_date": ask_date,
    "ask_quantity": ask_quantity, "refuse": refuse, "fact_to_file": fact_to_file, "price_message": price_message,
    "file_message": file_message,
}  # fmt: skip
"""Every template by name (which split uses which: `generate.TEMPLATE_TASKS`)."""
