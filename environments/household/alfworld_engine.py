"""The real ALFWorld engine (TextWorld's PDDL backend) behind `HouseholdEnv`'s contract.

- `alfred_problem(task)`: one of Kintsugi's household tasks written as an ALFRED PDDL problem (same room,
  same names, same contents, ALFRED's own goal formula for the task type), so one situation can be
  played in both engines.
- `game_data(task)` / `write_game(task, path)`: the `game.tw-pddl` json ALFWorld loads (the domain and
  grammar shipped with `alfworld`, the task sentence, the problem).
- `AlfworldEnv(task_or_path)`: plays such a game, or an official ALFWorld game (`game.tw-pddl`, or
  `traj_data.json` next to its `initial_state.pddl`), through `textworld` with ALFWorld's
  `AlfredDemangler` / `AlfredInfos` wrappers.

`alfworld` is optional (`pip install 'kintsugi[alfworld]'`); it is imported only when a game is built
or played, so writing PDDL problems needs nothing extra.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from environments.base import EnvInputError, TaskSpec
from environments.household.env import THINK_REPLY, normalize
from environments.household.generate import build_world
from environments.household.vocab import CLEANABLE, COOLABLE, HEATABLE, LAMPS, OPENABLE
from environments.household.world import World

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'kintsugi[alfworld]'"
"""How to get the optional engine."""
DOMAIN_CONSTANTS: dict[str, str] = {
    "sinkbasin": "rtype",
    "microwave": "rtype",
    "fridge": "rtype",
    "knife": "otype",
    "butterknife": "otype",
}
"""Types that `alfred.pddl` names in its actions; every problem must declare them."""
_ALFRED_TASK_TYPE = {
    "pick_and_place_simple": "pick_and_place",
    "pick_clean_then_place_in_recep": "pick_clean_then_place",
    "pick_heat_then_place_in_recep": "pick_heat_then_place",
    "pick_cool_then_place_in_recep": "pick_cool_then_place",
}
"""ALFWorld's task type names -> Kintsugi's (the other two are spelled the same)."""


class AlfworldMissingError(EnvInputError, ImportError):
    """`alfworld` (and with it `textworld[pddl]`) is not installed."""


def _engine() -> tuple[Any, Any, Any, Any]:
    """(textworld's PddlEnv, EnvInfos, AlfredDemangler, AlfredInfos), importing them on first use."""
    try:
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
        from textworld import EnvInfos
        from textworld.envs.pddl import PddlEnv
    except ImportError as exc:
        raise AlfworldMissingError(
            f"the ALFWorld engine needs the optional `alfworld` package ({exc}); install it with: {INSTALL_HINT}"
        ) from exc
    return PddlEnv, EnvInfos, AlfredDemangler, AlfredInfos


def alfworld_available() -> bool:
    """Whether the real engine can be imported here."""
    try:
        _engine()
    except AlfworldMissingError:
        return False
    return True


@cache
def logic_files() -> tuple[str, str]:
    """The text of `alfred.pddl` (domain) and `alfred.twl2` (grammar) shipped inside the `alfworld` package."""
    _engine()
    import alfworld

    data = Path(alfworld.__file__).parent / "data"
    return (data / "alfred.pddl").read_text(), (data / "alfred.twl2").read_text()


# --- Kintsugi tasks as ALFRED PDDL problems ------------------------------------------------------------------------


def _entity_id(name: str, count: int) -> str:
    """An ALFRED-style id that ALFWorld's demangler turns back into `name` (e.g. `cabinet 2`).

    The demangler numbers the ids of one kind in sorted order from the highest number down, and adds
    `basin` to the kind of any id that contains it (ALFRED writes sink basins `Sink|...|SinkBasin`).
    """
    kind, number = name.rsplit(" ", 1)
    order = f"{count - int(number):03d}"
    if kind.endswith("basin"):
        return f"{kind.removesuffix('basin')}_bar_{order}_bar_basin"
    return f"{kind}_bar_{order}"


def _check_numbering(world: World) -> None:
    numbers: dict[str, list[int]] = {}
    for name in world.layout.kind:
        kind, number = name.rsplit(" ", 1)
        numbers.setdefault(kind, []).append(int(number))
    for kind, found in numbers.items():
        if sorted(found) != list(range(1, len(found) + 1)):
            raise ValueError(f"{kind} instances are numbered {sorted(found)}; ALFWorld names them 1..{len(found)}")


def _goal(world: World) -> str:
    goal = world.layout.goal
    obj, target = f"{goal.obj}type", f"{goal.target}type"
    if goal.task_type == "look_at_obj_in_light":
        return f"""(:goal (and
    (exists (?ot - object ?r - receptacle ?a - agent ?l - location)
        (and (objectType ?ot {target}) (toggleable ?ot) (isToggled ?ot)
             (receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?ot ?r)))
    (exists (?o - object ?a - agent) (and (objectType ?o {obj}) (holds ?a ?o)))))"""
    if goal.task_type == "pick_two_obj_and_place":
        return f"""(:goal (exists (?r - receptacle ?o1 - object ?o2 - object)
    (and (receptacleType ?r {target}) (not (= ?o1 ?o2))
         (objectType ?o1 {obj}) (inReceptacle ?o1 ?r) (objectType ?o2 {obj}) (inReceptacle ?o2 ?r))))"""
    state = {
        "clean": "(cleanable ?o) (isClean ?o)",
        "hot": "(heatable ?o) (isHot ?o)",
        "cool": "(coolable ?o) (isCool ?o)",
    }
    extra = state[goal.state] if goal.state else ""
    return f"""(:goal (exists (?r - receptacle ?o - object)
    (and (inReceptacle ?o ?r) (objectType ?o {obj}) (receptacleType ?r {target}) {extra})))"""


def world_problem(world: World, name: str = "kintsugi") -> str:
    """An ALFRED PDDL problem for a household state (agent position, hands and object states included).

    Every object type may go in every receptacle type (`canContain` for all pairs), as in Kintsugi;
    ALFRED's own problems allow only its compatible pairs.
    """
    _check_numbering(world)
    layout = world.layout
    counts: dict[str, int] = {}
    for entity in layout.kind:
        counts[entity.rsplit(" ", 1)[0]] = counts.get(entity.rsplit(" ", 1)[0], 0) + 1
    ids = {entity: _entity_id(entity, counts[entity.rsplit(" ", 1)[0]]) for entity in layout.kind}
    location = {recep: f"loc_bar_{i + 1}" for i, recep in enumerate(layout.receptacles)}
    objects = [o for objs in world.contents.values() for o in objs] + ([world.holding] if world.holding else [])
    rtypes = {layout.kind[r] for r in layout.receptacles}
    otypes = {layout.kind[o] for o in objects}
    types = {t: "rtype" for t in rtypes} | {t: "otype" for t in otypes}
    types |= {t: kind for t, kind in DOMAIN_CONSTANTS.items() if t not in types}

    declare = ["agent1 - agent", "loc_bar_0 - location"]
    declare += [f"{t}type - {kind}" for t, kind in sorted(types.items())]
    declare += [f"{location[r]} - location" for r in layout.receptacles]
    declare += [f"{ids[r]} - receptacle" for r in layout.receptacles]
    declare += [f"{ids[o]} - object" for o in objects]

    here = location[world.location] if world.location else "loc_bar_0"
    facts = [f"(atLocation agent1 {here})"]
    facts += [f"(canContain {r}type {o}type)" for r in sorted(rtypes) for o in sorted(otypes)]
    for recep in layout.receptacles:
        rid, rtype = ids[recep], layout.kind[recep]
        facts += [f"(receptacleType {rid} {rtype}type)", f"(receptacleAtLocation {rid} {location[recep]})"]
        if rtype in OPENABLE:
            facts.append(f"(openable {rid})")
            if recep in world.opened:
                facts.append(f"(opened {rid})")
        for obj in world.contents[recep]:
            facts += [f"(inReceptacle {ids[obj]} {rid})", f"(objectAtLocation {ids[obj]} {location[recep]})"]
    for obj in objects:
        oid, otype = ids[obj], layout.kind[obj]
        facts.append(f"(objectType {oid} {otype}type)")
        if otype in LAMPS:
            facts.append(f"(toggleable {oid})")
            if obj in world.lit:
                facts += [f"(isOn {oid})", f"(isToggled {oid})"]
            continue
        facts.append(f"(pickupable {oid})")
        for able, kinds in (("cleanable", CLEANABLE), ("heatable", HEATABLE), ("coolable", COOLABLE)):
            if otype in kinds:
                facts.append(f"({able} {oid})")
        for predicate, holders in (("isClean", world.clean), ("isHot", world.hot), ("isCool", world.cool)):
            if obj in holders:
                facts.append(f"({predicate} {oid})")
    if world.holding:
        facts += [f"(holds agent1 {ids[world.holding]})", "(holdsAny agent1)"]

    sep = "\n    "
    return (
        f"(define (problem {name})\n(:domain alfred)\n(:objects{sep}{sep.join(declare)}\n)\n"
        f"(:init{sep}{sep.join(facts)}\n)\n{_goal(world)}\n)\n"
    )


def _problem_name(task: TaskSpec) -> str:
    return "kintsugi_" + "".join(c if c.isalnum() else "_" for c in task.task_id)


def alfred_problem(task: TaskSpec) -> str:
    """The initial state and goal of a Kintsugi household task as an ALFRED PDDL problem."""
    return world_problem(build_world(task), name=_problem_name(task))


def _with_task(grammar: str, sentence: str) -> str:
    return grammar.replace("UNKNOWN GOAL.", sentence if sentence.endswith(".") else sentence + ".")


def game_data(task: TaskSpec, world: World | None = None) -> dict[str, Any]:
    """The `game.tw-pddl` content ALFWorld plays for a household task (needs `alfworld` for the domain files).

    `world` starts the game from that state of the task (e.g. the middle of an episode) instead of its start.
    """
    domain, grammar = logic_files()
    text = task.data.get("task_text") or task.instruction.removeprefix("Your task is to: ")
    problem = alfred_problem(task) if world is None else world_problem(world, name=_problem_name(task))
    return {"pddl_domain": domain, "grammar": _with_task(grammar, text), "pddl_problem": problem, "solvable": True}


def write_game(task: TaskSpec, path: str | Path) -> Path:
    """Write the task's `game.tw-pddl` (a file path, or a directory to hold `game.tw-pddl`); returns the file."""
    path = Path(path)
    if path.is_dir():
        path = path / "game.tw-pddl"
    path.write_text(json.dumps(game_data(task)))
    return path


# --- official ALFWorld games ---------------------------------------------------------------------------------------


def _official_task_type(folder: Path, traj: dict[str, Any] | None) -> str | None:
    raw = traj.get("task_type") if traj else None
    if raw is None:
        for part in (folder.name, folder.parent.name):
            if "-" in part:
                raw = part.split("-", 1)[0]
                break
    return _ALFRED_TASK_TYPE.get(raw, raw) if raw else None


def load_game(path: str | Path) -> tuple[dict[str, Any], TaskSpec]:
    """Read an official ALFWorld game: a `game.tw-pddl`, a `traj_data.json` with `initial_state.pddl` beside
    it, or a folder holding either. Returns the game data and a task describing it.
    """
    path = Path(path)
    if path.is_dir():
        tw = path / "game.tw-pddl"
        path = tw if tw.exists() else path / "traj_data.json"
    if not path.exists():
        raise FileNotFoundError(f"no ALFWorld game at {path}; expected a game.tw-pddl or a traj_data.json")
    traj_path = path.parent / "traj_data.json"
    traj = json.loads(traj_path.read_text()) if traj_path.exists() else None
    if path.suffix == ".tw-pddl":
        data = json.loads(path.read_text())
    elif path.name == "traj_data.json":
        problem = path.parent / "initial_state.pddl"
        if not problem.exists():
            raise FileNotFoundError(f"{path} needs the initial_state.pddl of the same trial beside it")
        data = _official_game_from_traj(traj or {}, problem.read_text())
    else:
        raise ValueError(f"{path} is not an ALFWorld game; give a game.tw-pddl or a traj_data.json")
    missing = [k for k in ("pddl_domain", "grammar", "pddl_problem") if k not in data]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}; is it an ALFWorld game.tw-pddl?")
    task_type = _official_task_type(path.parent, traj)
    task = TaskSpec(
        task_id=str(path),
        instruction=_instruction_of(data["grammar"]),
        data={"game_file": str(path), "task_type": task_type},
    )
    return data, task


def _official_game_from_traj(traj: dict[str, Any], problem: str) -> dict[str, Any]:
    """What ALFWorld's `AlfredTWEnv` writes to `game.tw-pddl`: domain, grammar with a templated task, problem."""
    _engine()
    from alfworld.agents.utils.misc import add_task_to_grammar

    domain, grammar = logic_files()
    saved = random.getstate()
    random.seed(0)  # ALFWorld draws the task template from the global generator; fix it so a trial reads the same
    try:
        grammar = add_task_to_grammar(grammar, traj)
    finally:
        random.setstate(saved)
    return {"pddl_domain": domain, "grammar": grammar, "pddl_problem": problem, "solvable": True}


def _instruction_of(grammar: str) -> str:
    marker = "Your task is to: "
    start = grammar.find(marker)
    if start < 0:
        return ""
    end = grammar.find('"', start)
    return grammar[start:end].strip()


# --- the environment -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlfworldConfig:
    """Settings of an episode in the real engine."""

    max_steps: int = 50
    """Steps (think steps included, as in `HouseholdEnv`) before the episode is truncated."""


class AlfworldEnv:
    """One ALFWorld game in the real TextWorld/ALFWorld engine, behind `HouseholdEnv`'s contract.

    `source` is a Kintsugi household task (its room is written as an ALFRED problem) or the path of an
    official game (`game.tw-pddl`, or `traj_data.json` beside `initial_state.pddl`). `info` carries
    `admissible_actions` (the engine's sorted `admissible_commands`), `won`, `steps` and `task_type`.
    `world=` starts a household task from that state (e.g. `HouseholdEnv.world` mid-episode) instead.
    Commands are normalised and `think: ...` is answered "OK." exactly as in `HouseholdEnv`;
    everything else is the engine's own answer. `won` stays True once reached, as in `HouseholdEnv`.
    """

    def __init__(
        self, source: TaskSpec | str | Path, config: AlfworldConfig | None = None, *, world: World | None = None
    ) -> None:
        self.config = config or AlfworldConfig()
        if self.config.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.config.max_steps}")
        if isinstance(source, TaskSpec) and "game_file" not in source.data:
            self.task = source
            data = game_data(source, world)
        elif world is not None:
            raise ValueError(
                "world= starts a Kintsugi household task from a given state; it does not apply to game files"
            )
        else:
            path = source.data["game_file"] if isinstance(source, TaskSpec) else source
            data, self.task = load_game(path)
        pddl_env, env_infos, demangler, infos = _engine()
        request = env_infos(admissible_commands=True, won=True, extras=["gamefile"])
        self._env = infos(demangler(pddl_env(request)))
        self._env.load(data)
        self._state: Any = None
        self.steps = 0
        self.won = False

    def _info(self) -> dict[str, Any]:
        return {
            "admissible_actions": list(self._state["admissible_commands"]),
            "won": self.won,
            "steps": self.steps,
            "task_type": self.task.data.get("task_type"),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Restart the game; returns the engine's opening text and info (the seed is accepted and ignored)."""
        self._state = self._env.reset()
        self.steps = 0
        self.won = bool(self._state["won"])
        return self._state.feedback, self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Send one command to the engine (a `think: ...` line is answered here); reward 1.0 when first won."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        command = normalize(action)
        self.steps += 1
        if command.startswith("think:"):
            obs = THINK_REPLY
        else:
            self._state, _, _ = self._env.step(command)
            obs = self._state.feedback
        reward = 0.0
        if not self.won and self._state["won"]:
            self.won = True
            reward = 1.0
        truncated = not self.won and self.steps >= self.config.max_steps
        return obs, reward, self.won, truncated, self._info()

    def admissible_actions(self) -> list[str]:
        """The engine's valid commands in the current state, sorted."""
        if self._state is None:
            raise RuntimeError("call reset() before admissible_actions()")
        return list(self._state["admissible_commands"])

    def close(self) -> None:
        """Release the engine."""
        self._env.close()


def make_alfworld_env(task: TaskSpec, **kwargs: Any) -> AlfworldEnv:
    """Build the real-engine environment for `task`; `max_steps=` sets the horizon (other keywords are ignored)."""
    known = {k: kwargs.pop(k) for k in list(kwargs) if k in AlfworldConfig.__dataclass_fields__}
    if kwargs:
        log.debug("alfworld env ignores keywords %s", sorted(kwargs))
    return AlfworldEnv(task, AlfworldConfig(**known))
