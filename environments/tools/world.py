"""The simulated world behind the tools: contacts, calendar, messages, files, a shop and its orders."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from environments.tools.vocab import (
    CATALOG,
    EVENT_TITLES,
    FILE_PATHS,
    FILE_TEXTS,
    FIRST_NAMES,
    LAST_NAMES,
    MONTH,
    TIMES,
    WORLD_DAYS,
)

N_CONTACTS = 6
"""Contacts in a generated world."""
N_EVENTS = 6
"""Calendar events in a generated world."""
N_FILES = 4
"""Files in a generated world."""
N_ITEMS = 7
"""Goods the shop of a generated world sells."""
N_ORDERS = 2
"""Orders a generated world starts with (status `placed`)."""


@dataclass(frozen=True)
class Contact:
    """A person in the address book."""

    name: str
    """Full name, e.g. `Ann Lee`."""
    email: str
    """Address messages go to."""
    phone: str = ""
    """Phone number (empty when unknown)."""


@dataclass(frozen=True)
class Event:
    """A calendar entry."""

    id: str
    """Event id (`ev1`, `ev2`, ...)."""
    date: str
    """YYYY-MM-DD."""
    time: str
    """HH:MM, 24-hour."""
    title: str
    """What the event is."""


@dataclass(frozen=True)
class Item:
    """Goods the shop sells."""

    id: str
    """Item id (`p104`: fixed per catalog entry)."""
    name: str
    """E.g. `desk lamp`."""
    price: float
    """Unit price."""


@dataclass(frozen=True)
class Order:
    """An order of one kind of goods."""

    id: str
    """Order id (`ord1`, `ord2`, ...)."""
    item_id: str
    """What was ordered."""
    quantity: int
    """How many."""
    status: str = "placed"
    """`placed` or `cancelled`."""


@dataclass(frozen=True)
class Message:
    """A message that was sent."""

    to: str
    """Recipient's email address."""
    body: str
    """The text."""


@dataclass
class World:
    """All state the tools read and change; `state()` is its comparable, mutable part."""

    contacts: list[Contact] = field(default_factory=list)
    """The address book, in insertion order."""
    events: dict[str, Event] = field(default_factory=dict)
    """Calendar events by id."""
    files: dict[str, str] = field(default_factory=dict)
    """File path -> content."""
    items: dict[str, Item] = field(default_factory=dict)
    """The shop's goods by id (never changes)."""
    stock: dict[str, int] = field(default_factory=dict)
    """Item id -> units in stock."""
    orders: dict[str, Order] = field(default_factory=dict)
    """Orders by id."""
    messages: list[Message] = field(default_factory=list)
    """Messages sent, oldest first."""
    next_event: int = 1
    """Number of the next event id."""
    next_order: int = 1
    """Number of the next order id."""

    def copy(self) -> World:
        """An independent copy (the records are frozen, so copying the containers is enough)."""
        return World(
            list(self.contacts), dict(self.events), dict(self.files), dict(self.items), dict(self.stock),
            dict(self.orders), list(self.messages), self.next_event, self.next_order,
        )  # fmt: skip

    def state(self) -> dict[str, Any]:
        """The mutable parts as plain data (equal worlds give equal states; id counters are left out)."""
        return {
            "contacts": sorted([c.name, c.email, c.phone] for c in self.contacts),
            "events": {e.id: [e.date, e.time, e.title] for e in self.events.values()},
            "messages": [[m.to, m.body] for m in self.messages],
            "files": dict(self.files),
            "stock": dict(self.stock),
            "orders": {o.id: [o.item_id, o.quantity, o.status] for o in self.orders.values()},
        }


def build_world(seed: int) -> World:
    """The world of `seed`: six contacts, six events in one week, four files, seven goods and two orders."""
    rng = random.Random(seed)
    world = World()
    phones = rng.sample(range(100, 1000), N_CONTACTS)
    for first, phone in zip(rng.sample(FIRST_NAMES, N_CONTACTS), phones, strict=True):
        last = rng.choice(LAST_NAMES)
        world.contacts.append(Contact(f"{first} {last}", f"{first}.{last}@example.com".lower(), f"555-0{phone}"))
    for title in rng.sample(EVENT_TITLES, N_EVENTS):
        event = Event(f"ev{world.next_event}", f"{MONTH}-{rng.choice(WORLD_DAYS):02d}", rng.choice(TIMES), title)
        world.events[event.id] = event
        world.next_event += 1
    for path, text in zip(rng.sample(FILE_PATHS, N_FILES), rng.sample(FILE_TEXTS, N_FILES), strict=True):
        world.files[path] = text
    for index in sorted(rng.sample(range(len(CATALOG)), N_ITEMS)):
        name, price = CATALOG[index]
        item = Item(f"p{101 + index}", name, price)
        world.items[item.id] = item
        world.stock[item.id] = 0 if rng.random() < 0.15 else rng.randint(1, 12)
    for item_id in rng.sample(sorted(world.items), N_ORDERS):
        order = Order(f"ord{world.next_order}", item_id, rng.randint(1, 3))
        world.orders[order.id] = order
        world.next_order += 1
    return world
