"""Experts that solve any household task: an oracle policy and a searching demonstrator.

- `expert_action` / `expert_plan`: the oracle. It reads the true state, so it goes straight to
  the objects; from any state it returns the next command of a shortest-style plan (upper bound,
  generator check, Agent-R style revisions from the middle of an episode).
- `demo_plan`: behaves like a careful agent that does not know where things are. It searches
  receptacles in order of plausibility, opens what is closed, remembers what it has seen, and
  (with `think=True`) writes ReAct-style `think:` lines. Used for the few-shot examples.
"""

from __future__ import annotations

from typing import Protocol

from environments.household.vocab import INTO, PLACES
from environments.household.world import NOTHING, World

_VERB = {"clean": "clean", "hot": "heat", "cool": "cool"}


class HasWorld(Protocol):
    """Anything carrying a household state (e.g. `HouseholdEnv`)."""

    world: World


def _world_of(source: World | HasWorld) -> World:
    return source if isinstance(source, World) else source.world


def _go(w: World, recep: str) -> str | None:
    return None if w.location == recep else f"go to {recep}"


def _reach(w: World, recep: str) -> str | None:
    """The command that gets the agent to `recep` with it open, or None when already there and open."""
    step = _go(w, recep)
    if step is None and not w.is_open(recep):
        return f"open {recep}"
    return step


def _target_receptacle(w: World) -> str:
    goal = w.layout.goal
    instances = w.layout.by_type[goal.target]
    return max(instances, key=lambda r: (len(w.satisfying(r)), -instances.index(r)))


def _fetch(w: World, obj: str) -> str:
    spot = w.where(obj)
    assert spot is not None, obj
    return _reach(w, spot) or f"take {obj} from {spot}"


def _put_down(w: World) -> str:
    if w.location is None:
        return f"go to {w.layout.receptacles[0]}"
    return _reach(w, w.location) or f"move {w.holding} to {w.location}"


def _objects_of(w: World, obj_type: str) -> list[str]:
    return sorted(o for objs in w.contents.values() for o in objs if w.kind(o) == obj_type)


def expert_action(source: World | HasWorld) -> str | None:
    """The oracle's next command from the current state (None once the task is solved)."""
    w = _world_of(source)
    if w.won():
        return None
    goal = w.layout.goal
    held = w.holding
    holding_goal = held is not None and w.kind(held) == goal.obj
    if goal.task_type == "look_at_obj_in_light":
        if not holding_goal:
            return _put_down(w) if held is not None else _fetch(w, _objects_of(w, goal.obj)[0])
        lamp = next(o for o in _objects_of(w, goal.target))
        spot = w.where(lamp)
        assert spot is not None
        return _go(w, spot) or f"use {lamp}"
    target = _target_receptacle(w)
    if holding_goal:
        assert held is not None
        if not w.has_state(held, goal.state):
            assert goal.tool is not None and goal.state is not None
            tool = w.layout.by_type[goal.tool][0]
            return _go(w, tool) or f"{_VERB[goal.state]} {held} with {tool}"
        return _reach(w, target) or f"move {held} to {target}"
    if held is not None:
        return _put_down(w)
    done = set(w.satisfying(target))
    candidates = [o for o in _objects_of(w, goal.obj) if o not in done]
    candidates.sort(key=lambda o: w.where(o) == target)
    return _fetch(w, candidates[0])


def expert_plan(source: World | HasWorld, max_len: int = 200) -> list[str]:
    """The oracle's commands from the current state to the goal (the state itself is not changed)."""
    w = _world_of(source).copy()
    plan: list[str] = []
    while (action := expert_action(w)) is not None:
        if len(plan) >= max_len or w.apply(action) == NOTHING:
            raise RuntimeError(f"expert failed on {w.layout.task_text!r} after {plan}")
        plan.append(action)
    return plan


def _ranges(receps: list[str]) -> str:
    """`countertop (1-3), cabinet (1-6), fridge (1)`, keeping first-seen type order."""
    groups: dict[str, list[str]] = {}
    for r in receps:
        rtype, num = r.rsplit(" ", 1)
        groups.setdefault(rtype, []).append(num)
    parts = []
    for rtype, nums in groups.items():
        span = nums[0] if len(nums) == 1 else f"{nums[0]}-{nums[-1]}"
        parts.append(f"{rtype} ({span})")
    return ", ".join(parts)


def _num(name: str) -> str:
    return name.rsplit(" ", 1)[1]


class _Demo:
    """Plays a task like an agent that must look for things, recording commands and thoughts."""

    def __init__(self, world: World, think: bool) -> None:
        self.w = world.copy()
        self.think = think
        self.plan: list[str] = []
        self.seen: dict[str, list[str]] = {}

    def thought(self, text: str) -> None:
        if self.think:
            self.plan.append("think: " + text)

    def act(self, command: str) -> None:
        if self.w.apply(command) == NOTHING:
            raise RuntimeError(f"demo expert sent an invalid command {command!r} after {self.plan}")
        self.plan.append(command)
        loc = self.w.location
        if loc is not None and self.w.is_open(loc):
            self.seen[loc] = list(self.w.contents[loc])

    def reach(self, recep: str) -> None:
        while (step := _reach(self.w, recep)) is not None:
            self.act(step)

    def find(self, obj_type: str, avoid: set[str], what: str, then: str = "take it") -> str:
        """Search for an object of `obj_type` outside `avoid`; returns it, with the agent at its place."""
        w = self.w
        for recep, objs in self.seen.items():
            found = [o for o in objs if w.kind(o) == obj_type]
            if recep not in avoid and found:
                self.thought(
                    f"{what} I need to find a {obj_type}. I saw a {obj_type} ({_num(found[0])}) "
                    f"on {recep} before, so I go there."
                )
                self.reach(recep)
                return found[0]
        order = [
            r
            for rtype in PLACES[obj_type]
            for r in w.layout.by_type.get(rtype, ())
            if r not in avoid and r not in self.seen
        ]
        self.thought(
            f"{what} I need to find a {obj_type}. A {obj_type} is more likely to appear in {_ranges(order)}. "
            f"I can check one by one, starting with {order[0]}."
        )
        for recep in order:
            self.reach(recep)
            found = [o for o in w.contents[recep] if w.kind(o) == obj_type]
            if found:
                self.thought(f"Now I find a {obj_type} ({_num(found[0])}). Next, I need to {then}.")
                return found[0]
        raise RuntimeError(f"demo expert found no {obj_type} in {w.layout.task_text!r}")

    def run(self) -> list[str]:
        w, goal = self.w, self.w.layout.goal
        o = goal.obj
        if goal.task_type == "look_at_obj_in_light":
            self.thought(f"To solve the task, I need to find and take a {o}, then find and use a {goal.target}.")
            obj = self.find(o, set(), "First")
            self.act(f"take {obj} from {w.location}")
            lamp = self.find(goal.target, set(), f"Now I take a {o} ({_num(obj)}). Next,", then="use it")
            self.act(f"use {lamp}")
            return self.plan
        target = w.layout.by_type[goal.target][0]
        prep = "in" if goal.target in INTO else "on"
        avoid = set(w.layout.by_type[goal.target])
        if goal.count == 2:
            self.thought(
                f"To solve the task, I need to find and take the first {o}, then put it {prep} {goal.target}, "
                f"then find and take the second {o}, then put it {prep} {goal.target}."
            )
        elif goal.state:
            self.thought(
                f"To solve the task, I need to find and take a {o}, then {_VERB[goal.state]} it with "
                f"{goal.tool}, then put it {prep} {goal.target}."
            )
        else:
            self.thought(f"To solve the task, I need to find and take a {o}, then put it {prep} {goal.target}.")
        for k in range(goal.count):
            what = "First" if k == 0 else f"Now I put the first {o} {prep} {target}. Next,"
            obj = self.find(o, avoid, what)
            self.act(f"take {obj} from {w.location}")
            if goal.state:
                assert goal.tool is not None
                tool = w.layout.by_type[goal.tool][0]
                verb = _VERB[goal.state]
                self.thought(f"Now I take a {o} ({_num(obj)}). Next, I need to go to {tool} and {verb} it.")
                self.reach(tool)
                self.act(f"{verb} {obj} with {tool}")
                self.thought(f"Now I {verb} a {o} ({_num(obj)}). Next, I need to put it {prep} {target}.")
            else:
                self.thought(f"Now I take a {o} ({_num(obj)}). Next, I need to put it {prep} {target}.")
            self.reach(target)
            self.act(f"move {obj} to {target}")
        return self.plan


def demo_plan(source: World | HasWorld, think: bool = True) -> list[str]:
    """A searching expert's episode from the current state (for few-shot examples); state unchanged.

    Expects the agent to start empty-handed (as at reset).
    """
    w = _world_of(source)
    if w.holding is not None:
        raise ValueError("demo_plan starts from an empty-handed state; use expert_plan mid-episode")
    return _Demo(w, think).run()
