"""The tools: name, description, parameters and what each does to the world."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from environments.tools.arith import evaluate
from environments.tools.schema import Param, ToolError, check_arguments, parameters_schema
from environments.tools.vocab import FACTS, UNITS
from environments.tools.world import Contact, Event, Message, Order, World

CONVERT_DIGITS = 4
"""`convert_units` rounds its results to this many decimals."""

Result = dict[str, Any] | list[dict[str, Any]]
"""What a tool returns: JSON data."""


@dataclass(frozen=True)
class Tool:
    """One API the agent may call."""

    name: str
    """What a call names."""
    description: str
    """What it does, for the agent."""
    params: tuple[Param, ...]
    """Its arguments."""
    run: Callable[[World, dict[str, Any]], Result]
    """Carries out a call with checked arguments (may change the world; ToolError when it cannot)."""

    def spec(self) -> dict[str, Any]:
        """The tool in OpenAI's function format."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description,
                         "parameters": parameters_schema(self.params)},
        }  # fmt: skip


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _contacts_search(w: World, a: dict[str, Any]) -> Result:
    query = _key(a["name"])
    return [{"name": c.name, "email": c.email, "phone": c.phone} for c in w.contacts if query in _key(c.name)]


def _contacts_add(w: World, a: dict[str, Any]) -> Result:
    email = a["email"].lower()
    if any(c.email == email for c in w.contacts):
        raise ToolError(f"a contact with email {email} already exists")
    contact = Contact(a["name"].strip(), email, a.get("phone", "").strip())
    w.contacts.append(contact)
    return {"name": contact.name, "email": contact.email, "phone": contact.phone}


def _event(e: Event) -> dict[str, Any]:
    return {"id": e.id, "date": e.date, "time": e.time, "title": e.title}


def _calendar_list(w: World, a: dict[str, Any]) -> Result:
    return [_event(e) for e in sorted(w.events.values(), key=lambda e: e.time) if e.date == a["date"]]


def _calendar_add(w: World, a: dict[str, Any]) -> Result:
    event = Event(f"ev{w.next_event}", a["date"], a["time"], a["title"].strip())
    w.events[event.id] = event
    w.next_event += 1
    return _event(event)


def _calendar_delete(w: World, a: dict[str, Any]) -> Result:
    if a["event_id"] not in w.events:
        raise ToolError(f"no event {a['event_id']!r}; calendar_list gives the ids of a day's events")
    del w.events[a["event_id"]]
    return {"deleted": a["event_id"]}


def _messages_send(w: World, a: dict[str, Any]) -> Result:
    w.messages.append(Message(a["to"].lower(), a["body"]))
    return {"status": "sent", "to": a["to"].lower()}


def _files_list(w: World, a: dict[str, Any]) -> Result:
    return [{"path": p, "size": len(text)} for p, text in sorted(w.files.items())]


def _files_read(w: World, a: dict[str, Any]) -> Result:
    if a["path"] not in w.files:
        raise ToolError(f"no file {a['path']!r}; files: {', '.join(sorted(w.files)) or 'none'}")
    return {"path": a["path"], "content": w.files[a["path"]]}


def _files_write(w: World, a: dict[str, Any]) -> Result:
    w.files[a["path"]] = a["content"]
    return {"path": a["path"], "size": len(a["content"])}


def _words(text: str) -> list[str]:
    """Query words, plural `s` dropped (`desk lamps` -> desk, lamp)."""
    return [t[:-1] if len(t) > 3 and t.endswith("s") else t for t in _key(text).split()]


def _shop_search(w: World, a: dict[str, Any]) -> Result:
    words = _words(a["query"])
    return [
        {"item_id": item.id, "name": item.name, "price": item.price, "stock": w.stock[item.id]}
        for item in w.items.values()
        if all(word in item.name for word in words)
    ]


def _shop_order(w: World, a: dict[str, Any]) -> Result:
    item = w.items.get(a["item_id"])
    if item is None:
        raise ToolError(f"no item {a['item_id']!r}; shop_search gives item ids")
    stock, quantity = w.stock[item.id], a["quantity"]
    if stock == 0:
        raise ToolError(f"{item.name!r} is out of stock")
    if quantity > stock:
        raise ToolError(f"only {stock} of {item.name!r} in stock, cannot order {quantity}")
    order = Order(f"ord{w.next_order}", item.id, quantity)
    w.orders[order.id] = order
    w.next_order += 1
    w.stock[item.id] = stock - quantity
    return {"order_id": order.id, "item_id": item.id, "quantity": quantity, "total": round(item.price * quantity, 2)}


def _orders_list(w: World, a: dict[str, Any]) -> Result:
    return [
        {"order_id": o.id, "item_id": o.item_id, "name": w.items[o.item_id].name, "quantity": o.quantity,
         "status": o.status}
        for o in w.orders.values()
    ]  # fmt: skip


def _order_cancel(w: World, a: dict[str, Any]) -> Result:
    order = w.orders.get(a["order_id"])
    if order is None:
        raise ToolError(f"no order {a['order_id']!r}; orders_list gives order ids")
    if order.status == "cancelled":
        raise ToolError(f"order {order.id} is already cancelled")
    w.orders[order.id] = Order(order.id, order.item_id, order.quantity, "cancelled")
    w.stock[order.item_id] += order.quantity
    return {"order_id": order.id, "status": "cancelled"}


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """`value` in `from_unit` expressed in `to_unit`, rounded to `CONVERT_DIGITS`; ToolError across dimensions."""
    (dim_from, size_from), (dim_to, size_to) = UNITS[from_unit], UNITS[to_unit]
    if dim_from != dim_to:
        raise ToolError(f"cannot convert {from_unit} ({dim_from}) to {to_unit} ({dim_to})")
    if dim_from == "temperature":
        celsius = {"c": value, "f": (value - 32) * 5 / 9, "k": value - 273.15}[from_unit]
        out = {"c": celsius, "f": celsius * 9 / 5 + 32, "k": celsius + 273.15}[to_unit]
    else:
        out = value * size_from / size_to
    return round(out, CONVERT_DIGITS) + 0.0


def _convert_units(w: World, a: dict[str, Any]) -> Result:
    return {"value": convert(a["value"], a["from_unit"], a["to_unit"]), "unit": a["to_unit"]}


def _calculate(w: World, a: dict[str, Any]) -> Result:
    return {"result": evaluate(a["expression"])}


def lookup(topic: str, key: str) -> str | int:
    """The fact `topic` of `key` (keys match ignoring case); ToolError when the table has none."""
    table = FACTS[topic]
    found = next((k for k in table if _key(k) == _key(key)), None)
    if found is None:
        raise ToolError(f"no {topic} known for {key!r}")
    return table[found]


def _facts_lookup(w: World, a: dict[str, Any]) -> Result:
    return {"topic": a["topic"], "key": a["key"], "value": lookup(a["topic"], a["key"])}


_UNIT_NAMES = tuple(UNITS)
_ALL: tuple[Tool, ...] = (
    Tool("contacts_search", "Find contacts whose name contains the text.", (Param("name"),), _contacts_search),
    Tool("contacts_add", "Add a contact.",
         (Param("name"), Param("email", "email"), Param("phone", required=False)), _contacts_add),
    Tool("calendar_list", "List the events on a date.", (Param("date", "date", "YYYY-MM-DD"),), _calendar_list),
    Tool("calendar_add", "Add an event to the calendar.",
         (Param("date", "date", "YYYY-MM-DD"), Param("time", "time", "HH:MM"), Param("title")), _calendar_add),
    Tool("calendar_delete", "Delete an event by its id.", (Param("event_id"),), _calendar_delete),
    Tool("messages_send", "Send a message to an email address.",
         (Param("to", "email"), Param("body")), _messages_send),
    Tool("files_list", "List the files.", (), _files_list),
    Tool("files_read", "Read a file.", (Param("path"),), _files_read),
    Tool("files_write", "Write text to a file (replaces its content).",
         (Param("path"), Param("content")), _files_write),
    Tool("shop_search", "Search the shop for goods.", (Param("query"),), _shop_search),
    Tool("shop_order", "Order goods by item id.",
         (Param("item_id"), Param("quantity", "integer", minimum=1)), _shop_order),
    Tool("orders_list", "List your orders.", (), _orders_list),
    Tool("order_cancel", "Cancel an order by its id.", (Param("order_id"),), _order_cancel),
    Tool("convert_units", "Convert a value between units.",
         (Param("value", "number"), Param("from_unit", enum=_UNIT_NAMES), Param("to_unit", enum=_UNIT_NAMES)),
         _convert_units),
    Tool("calculate", "Evaluate an arithmetic expression.", (Param("expression", description="e.g. 3 * 4.5"),),
         _calculate),
    Tool("facts_lookup", "Look up a fact about a country or a chemical element.",
         (Param("topic", enum=tuple(FACTS)), Param("key", description="country or element name")), _facts_lookup),
)  # fmt: skip
TOOLS: dict[str, Tool] = {t.name: t for t in _ALL}
"""Every tool by name."""


def execute(world: World, name: str, arguments: dict[str, Any], offered: Sequence[str]) -> tuple[dict, Result]:
    """Check a call against the offered tools and the tool's schema, then run it on `world`.

    Returns the checked arguments and the result. ToolError (the world unchanged) names an unknown tool, a bad
    argument, or why the tool could not do it.
    """
    if name not in offered:
        raise ToolError(f"unknown tool {name!r}; tools: {', '.join(offered)}")
    tool = TOOLS[name]
    try:
        checked = check_arguments(tool.params, arguments)
        return checked, tool.run(world, checked)
    except ToolError as exc:
        raise ToolError(f"{name}: {exc}") from None
