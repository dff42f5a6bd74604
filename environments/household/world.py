"""The household's state and the meaning of each command, in ALFWorld's words.

A `World` is plain Python containers over a shared, immutable `Layout`, so copying one (for
snapshots and tree search) costs a few dict/list copies. The valid commands of a state are
computed once per state (`admissible`) and a command is valid exactly when it is listed there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from environments.household.vocab import LAMPS, OPENABLE, STATE_FOR, TOOL_FOR

NOTHING = "Nothing happens."
"""ALFWorld's answer to any command that is not valid in the current state."""
WELCOME = "-= Welcome to TextWorld, ALFRED! =-"

HELP = """Available commands:
  look:                             look around your current location
  inventory:                        check your current inventory
  go to (receptacle):               move to a receptacle
  open (receptacle):                open a receptacle
  close (receptacle):               close a receptacle
  take (object) from (receptacle):  take an object from a receptacle
  move (object) to (receptacle):    place an object in or on a receptacle
  examine (something):              examine a receptacle or an object
  use (object):                     use an object
  heat (object) with (receptacle):  heat an object using a receptacle
  clean (object) with (receptacle): clean an object using a receptacle
  cool (object) with (receptacle):  cool an object using a receptacle"""

_PUT = re.compile(r"^put (.+?) (?:in|on|in/on|into|onto) (.+)$")


@dataclass(frozen=True)
class Goal:
    """What a task asks for, in types (any instance of the type will do, as in ALFWorld)."""

    task_type: str
    """One of `vocab.TASK_TYPES`."""
    obj: str
    """Object type to handle (e.g. `mug`)."""
    target: str
    """Receptacle type to put it in/on, or the lamp type for look-at-in-light tasks."""

    @property
    def count(self) -> int:
        """How many objects must end up in the target receptacle."""
        return 2 if self.task_type == "pick_two_obj_and_place" else 1

    @property
    def state(self) -> str | None:
        """Required object state (`clean`, `hot`, `cool`) or None."""
        return STATE_FOR.get(self.task_type)

    @property
    def tool(self) -> str | None:
        """Receptacle type that produces the required state, or None."""
        return TOOL_FOR.get(self.task_type)


@dataclass(frozen=True)
class Layout:
    """The parts of a game that never change while it is played."""

    room: str
    """Room kind (`kitchen`, `bedroom`, `bathroom`, `livingroom`)."""
    receptacles: tuple[str, ...]
    """Receptacle names (`cabinet 1`), in the order the room lists them."""
    kind: dict[str, str]
    """Name -> type, for receptacles and objects (`mug 2` -> `mug`)."""
    goal: Goal
    """What the task asks for."""
    task_text: str
    """The task sentence without the "Your task is to: " prefix."""
    by_type: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Receptacle type -> its instances, in order (filled in from `receptacles`)."""

    def __post_init__(self) -> None:
        by_type: dict[str, list[str]] = {}
        for name in self.receptacles:
            by_type.setdefault(self.kind[name], []).append(name)
        object.__setattr__(self, "by_type", {k: tuple(v) for k, v in by_type.items()})


def listing(names: list[str] | tuple[str, ...]) -> str:
    """ALFWorld's list style: `nothing`, `a mug 1`, `a mug 1, and a apple 2`, `a x, a y, and a z`."""
    if not names:
        return "nothing"
    if len(names) == 1:
        return f"a {names[0]}"
    return ", ".join(f"a {n}" for n in names[:-1]) + f", and a {names[-1]}"


class World:
    """Mutable game state: where the agent is, what it holds, what is where, what is open/lit/hot/cool/clean."""

    __slots__ = ("_adm", "clean", "contents", "cool", "holding", "hot", "layout", "lit", "location", "opened")

    def __init__(self, layout: Layout, contents: dict[str, list[str]], opened: set[str] | None = None) -> None:
        self.layout = layout
        self.location: str | None = None
        self.holding: str | None = None
        self.contents = contents
        self.opened: set[str] = set(opened or ())
        self.hot: set[str] = set()
        self.cool: set[str] = set()
        self.clean: set[str] = set()
        self.lit: set[str] = set()
        self._adm: dict[str, tuple[str, ...]] | None = None

    def copy(self) -> World:
        """An independent copy sharing only the immutable layout."""
        w = World.__new__(World)
        w.layout = self.layout
        w.location = self.location
        w.holding = self.holding
        w.contents = {r: list(objs) for r, objs in self.contents.items()}
        w.opened = set(self.opened)
        w.hot = set(self.hot)
        w.cool = set(self.cool)
        w.clean = set(self.clean)
        w.lit = set(self.lit)
        w._adm = self._adm
        return w

    def signature(self) -> tuple:
        """A hashable summary of the full state (equal states have equal signatures)."""
        return (
            self.location,
            self.holding,
            tuple((r, tuple(o)) for r, o in self.contents.items()),
            frozenset(self.opened),
            frozenset(self.hot),
            frozenset(self.cool),
            frozenset(self.clean),
            frozenset(self.lit),
        )

    # --- what the agent can see -------------------------------------------------------------------

    def kind(self, name: str) -> str:
        """Type of a receptacle or object name."""
        return self.layout.kind[name]

    def is_open(self, recep: str) -> bool:
        """True when the receptacle's contents can be seen and reached."""
        return self.kind(recep) not in OPENABLE or recep in self.opened

    def has_state(self, obj: str, state: str | None) -> bool:
        """Whether `obj` is clean/hot/cool (always True for no state)."""
        if state is None:
            return True
        return obj in {"clean": self.clean, "hot": self.hot, "cool": self.cool}[state]

    def where(self, obj: str) -> str | None:
        """The receptacle holding `obj` (None when the agent carries it or it does not exist)."""
        for recep, objs in self.contents.items():
            if obj in objs:
                return recep
        return None

    def intro(self) -> str:
        """The opening observation, as ALFWorld writes it."""
        return f"{WELCOME}\n\n{self._room_view()}\n\nYour task is to: {self.layout.task_text}"

    def _room_view(self) -> str:
        return (
            f"You are in the middle of a room. Looking quickly around you, you see {listing(self.layout.receptacles)}."
        )

    def _describe(self, recep: str) -> str:
        if self.kind(recep) in OPENABLE:
            if recep not in self.opened:
                return f"The {recep} is closed."
            return f"The {recep} is open. In it, you see {listing(self.contents[recep])}."
        return f"On the {recep}, you see {listing(self.contents[recep])}."

    def _examine_object(self, obj: str) -> str:
        if self.kind(obj) in LAMPS:
            return f"The {obj} is turned {'on' if obj in self.lit else 'off'}."
        states = [s for s, held in (("clean", self.clean), ("hot", self.hot), ("cool", self.cool)) if obj in held]
        if not states:
            return f"There's nothing special about {obj}."
        return f"This is a {' and '.join(states)} {obj}."

    # --- the valid commands -----------------------------------------------------------------------

    def admissible(self) -> dict[str, tuple[str, ...]]:
        """Every valid command in this state -> its parsed form (verb, arguments...)."""
        if self._adm is not None:
            return self._adm
        loc, held = self.location, self.holding
        cmds: dict[str, tuple[str, ...]] = {"look": ("look",), "inventory": ("inventory",), "help": ("help",)}
        for recep in self.layout.receptacles:
            if recep != loc:
                cmds["go to " + recep] = ("go", recep)
        if loc is not None:
            rtype = self.kind(loc)
            cmds["examine " + loc] = ("examine", loc)
            if rtype in OPENABLE:
                if loc in self.opened:
                    cmds["close " + loc] = ("close", loc)
                else:
                    cmds["open " + loc] = ("open", loc)
            if self.is_open(loc):
                for obj in self.contents[loc]:
                    cmds["examine " + obj] = ("examine", obj)
                    if self.kind(obj) in LAMPS:
                        cmds["use " + obj] = ("use", obj)
                    elif held is None:
                        cmds[f"take {obj} from {loc}"] = ("take", obj, loc)
                if held is not None:
                    cmds[f"move {held} to {loc}"] = ("move", held, loc)
            if held is not None:
                for verb, tool in (("heat", "microwave"), ("cool", "fridge"), ("clean", "sinkbasin")):
                    if rtype == tool:
                        cmds[f"{verb} {held} with {loc}"] = (verb, held, loc)
        if held is not None:
            cmds["examine " + held] = ("examine", held)
        self._adm = cmds
        return cmds

    def admissible_actions(self) -> list[str]:
        """The valid commands, sorted (ALFWorld's `admissible_commands`)."""
        return sorted(self.admissible())

    # --- applying a command -----------------------------------------------------------------------

    def resolve(self, command: str) -> tuple[str, ...] | None:
        """The parsed form of a normalised command, or None when it is not valid here.

        Besides ALFWorld's grammar this accepts the older `put X in/on Y` for `move X to Y`.
        """
        adm = self.admissible()
        parsed = adm.get(command)
        if parsed is None:
            m = _PUT.match(command)
            if m:
                parsed = adm.get(f"move {m.group(1)} to {m.group(2)}")
        return parsed

    def apply(self, command: str) -> str:
        """Apply a normalised command; returns the observation (`Nothing happens.` if invalid)."""
        parsed = self.resolve(command)
        if parsed is None:
            return NOTHING
        verb = parsed[0]
        if verb == "look":
            if self.location is None:
                return self._room_view()
            return f"You are facing the {self.location}. Next to it, you see nothing."
        if verb == "inventory":
            if self.holding is None:
                return "You are not carrying anything."
            return f"You are carrying: a {self.holding}."
        if verb == "help":
            return HELP
        if verb == "examine":
            target = parsed[1]
            if target in self.contents:
                return self._describe(target)
            return self._examine_object(target)
        self._adm = None
        if verb == "go":
            recep = parsed[1]
            self.location = recep
            return f"You arrive at {recep}. {self._describe(recep)}"
        if verb == "open":
            recep = parsed[1]
            self.opened.add(recep)
            return f"You open the {recep}. {self._describe(recep)}"
        if verb == "close":
            self.opened.discard(parsed[1])
            return f"You close the {parsed[1]}."
        if verb == "take":
            obj, recep = parsed[1], parsed[2]
            self.contents[recep].remove(obj)
            self.holding = obj
            return f"You pick up the {obj} from the {recep}."
        if verb == "move":
            obj, recep = parsed[1], parsed[2]
            self.contents[recep].append(obj)
            self.holding = None
            return f"You move the {obj} to the {recep}."
        if verb == "use":
            lamp = parsed[1]
            if lamp in self.lit:
                self.lit.discard(lamp)
                return f"You turn off the {lamp}."
            self.lit.add(lamp)
            return f"You turn on the {lamp}."
        obj, recep = parsed[1], parsed[2]
        if verb == "heat":
            self.cool.discard(obj)
            self.hot.add(obj)
        elif verb == "cool":
            self.hot.discard(obj)
            self.cool.add(obj)
        else:
            self.clean.add(obj)
        return f"You {verb} the {obj} using the {recep}."

    # --- the goal ---------------------------------------------------------------------------------

    def satisfying(self, recep: str) -> list[str]:
        """Objects in `recep` that count towards the goal (right type, right state)."""
        goal = self.layout.goal
        return [o for o in self.contents[recep] if self.kind(o) == goal.obj and self.has_state(o, goal.state)]

    def won(self) -> bool:
        """Whether the task's goal holds in this state."""
        goal = self.layout.goal
        if goal.task_type == "look_at_obj_in_light":
            if self.holding is None or self.location is None or self.kind(self.holding) != goal.obj:
                return False
            return any(o in self.lit and self.kind(o) == goal.target for o in self.contents[self.location])
        return any(len(self.satisfying(r)) >= goal.count for r in self.layout.by_type.get(goal.target, ()))
