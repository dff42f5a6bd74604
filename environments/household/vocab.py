"""The household's vocabulary: rooms, receptacles, objects and where objects plausibly are.

Names follow ALFWorld (lowercase, no spaces: `sinkbasin`, `coffeemachine`), so prompts and
policies written for ALFWorld read the same here.
"""

from __future__ import annotations

from dataclasses import dataclass

TASK_TYPES: tuple[str, ...] = (
    "pick_and_place",
    "look_at_obj_in_light",
    "pick_clean_then_place",
    "pick_heat_then_place",
    "pick_cool_then_place",
    "pick_two_obj_and_place",
)
"""The six ALFWorld task types, in ALFWorld's own names."""

OPENABLE: frozenset[str] = frozenset({"cabinet", "drawer", "fridge", "microwave", "safe"})
"""Receptacles that must be opened before their contents can be seen, taken or added to."""

LAMPS: tuple[str, ...] = ("desklamp", "floorlamp")
"""Objects that light a look-at-in-light task; they are used in place, never picked up."""

TOOL_FOR: dict[str, str] = {
    "pick_clean_then_place": "sinkbasin",
    "pick_heat_then_place": "microwave",
    "pick_cool_then_place": "fridge",
}
"""The receptacle type that cleans / heats / cools, per transforming task type."""

STATE_FOR: dict[str, str] = {
    "pick_clean_then_place": "clean",
    "pick_heat_then_place": "hot",
    "pick_cool_then_place": "cool",
}
"""The object state each transforming task type asks for."""


@dataclass(frozen=True)
class RoomTemplate:
    """How one kind of room is furnished and filled."""

    receptacles: dict[str, tuple[float, int, int]]
    """Receptacle type -> (probability present, min count, max count)."""
    objects: tuple[str, ...]
    """Object types that may appear in this kind of room."""
    lamps: tuple[str, ...] = ()
    """Lamp types this kind of room may have."""


ROOMS: dict[str, RoomTemplate] = {
    "kitchen": RoomTemplate(
        receptacles={
            "cabinet": (1.0, 4, 12),
            "drawer": (1.0, 2, 7),
            "countertop": (1.0, 1, 3),
            "fridge": (1.0, 1, 1),
            "microwave": (1.0, 1, 1),
            "sinkbasin": (1.0, 1, 1),
            "stoveburner": (1.0, 2, 4),
            "coffeemachine": (1.0, 1, 1),
            "toaster": (1.0, 1, 1),
            "garbagecan": (1.0, 1, 1),
            "diningtable": (0.6, 1, 1),
            "shelf": (0.4, 1, 3),
            "sidetable": (0.2, 1, 1),
        },
        objects=(
            "apple",
            "bread",
            "butterknife",
            "bowl",
            "cup",
            "dishsponge",
            "egg",
            "fork",
            "kettle",
            "knife",
            "ladle",
            "lettuce",
            "mug",
            "pan",
            "peppershaker",
            "plate",
            "pot",
            "potato",
            "saltshaker",
            "soapbottle",
            "spatula",
            "spoon",
            "tomato",
            "winebottle",
        ),
    ),
    "bedroom": RoomTemplate(
        receptacles={
            "bed": (1.0, 1, 1),
            "desk": (0.7, 1, 2),
            "drawer": (1.0, 2, 6),
            "dresser": (0.6, 1, 1),
            "shelf": (0.6, 1, 6),
            "sidetable": (0.6, 1, 2),
            "garbagecan": (1.0, 1, 1),
            "laundryhamper": (0.5, 1, 1),
            "safe": (0.3, 1, 1),
            "armchair": (0.3, 1, 1),
        },
        objects=(
            "alarmclock",
            "baseballbat",
            "basketball",
            "book",
            "bowl",
            "cd",
            "cellphone",
            "cloth",
            "creditcard",
            "keychain",
            "laptop",
            "mug",
            "pen",
            "pencil",
            "pillow",
            "teddybear",
            "tennisracket",
            "watch",
        ),
        lamps=("desklamp", "floorlamp"),
    ),
    "bathroom": RoomTemplate(
        receptacles={
            "bathtubbasin": (0.6, 1, 1),
            "cabinet": (1.0, 2, 4),
            "countertop": (1.0, 1, 1),
            "drawer": (0.5, 1, 4),
            "garbagecan": (1.0, 1, 1),
            "handtowelholder": (0.6, 1, 1),
            "sinkbasin": (1.0, 1, 2),
            "toilet": (1.0, 1, 1),
            "toiletpaperhanger": (1.0, 1, 1),
            "towelholder": (0.6, 1, 1),
            "shelf": (0.3, 1, 3),
        },
        objects=(
            "candle",
            "cloth",
            "dishsponge",
            "handtowel",
            "plunger",
            "scrubbrush",
            "soapbar",
            "soapbottle",
            "spraybottle",
            "tissuebox",
            "toiletpaper",
            "towel",
        ),
    ),
    "livingroom": RoomTemplate(
        receptacles={
            "armchair": (0.6, 1, 2),
            "coffeetable": (0.8, 1, 2),
            "diningtable": (0.3, 1, 1),
            "drawer": (1.0, 1, 6),
            "dresser": (0.3, 1, 1),
            "garbagecan": (1.0, 1, 1),
            "shelf": (0.5, 1, 6),
            "sidetable": (0.7, 1, 3),
            "sofa": (1.0, 1, 1),
            "tvstand": (0.6, 1, 1),
            "cabinet": (0.4, 1, 4),
            "safe": (0.2, 1, 1),
            "ottoman": (0.3, 1, 1),
        },
        objects=(
            "book",
            "bowl",
            "box",
            "candle",
            "cellphone",
            "creditcard",
            "keychain",
            "laptop",
            "newspaper",
            "pillow",
            "plate",
            "remotecontrol",
            "statue",
            "tissuebox",
            "vase",
            "watch",
        ),
        lamps=("desklamp", "floorlamp"),
    ),
}
"""The four kinds of room the generator furnishes."""

_SMALL_KITCHEN_TOOL = ("countertop", "diningtable", "drawer", "sinkbasin", "sidetable")
_PRODUCE = ("countertop", "diningtable", "fridge", "garbagecan", "microwave", "sinkbasin", "sidetable")
_DISHES = ("cabinet", "countertop", "diningtable", "fridge", "microwave", "shelf", "sinkbasin", "sidetable")
_SMALL_THINGS = ("desk", "drawer", "dresser", "shelf", "sidetable", "safe", "coffeetable", "tvstand")

PLACES: dict[str, tuple[str, ...]] = {
    "alarmclock": ("desk", "dresser", "shelf", "sidetable"),
    "apple": _PRODUCE,
    "baseballbat": ("bed", "desk", "armchair"),
    "basketball": ("bed", "desk", "armchair"),
    "book": ("bed", "desk", "drawer", "dresser", "shelf", "sidetable", "armchair", "coffeetable", "sofa"),
    "bowl": (*_DISHES, "desk", "dresser", "coffeetable"),
    "box": ("armchair", "coffeetable", "diningtable", "dresser", "sidetable", "sofa", "ottoman", "cabinet"),
    "bread": ("cabinet", "countertop", "diningtable", "fridge", "microwave", "sidetable"),
    "butterknife": _SMALL_KITCHEN_TOOL,
    "candle": ("cabinet", "countertop", "shelf", "toilet", "coffeetable", "sidetable", "dresser"),
    "cd": ("desk", "drawer", "dresser", "shelf", "sidetable", "safe", "garbagecan"),
    "cellphone": ("bed", "armchair", "sofa", *_SMALL_THINGS),
    "cloth": (
        "bathtubbasin",
        "cabinet",
        "countertop",
        "drawer",
        "sinkbasin",
        "toilet",
        "dresser",
        "laundryhamper",
        "bed",
        "garbagecan",
    ),
    "creditcard": ("armchair", "sofa", *_SMALL_THINGS),
    "cup": _DISHES,
    "dishsponge": ("cabinet", "countertop", "drawer", "sinkbasin", "diningtable", "toilet", "bathtubbasin", "shelf"),
    "egg": _PRODUCE,
    "fork": _SMALL_KITCHEN_TOOL,
    "handtowel": ("handtowelholder", "countertop", "cabinet"),
    "kettle": ("cabinet", "countertop", "stoveburner", "diningtable", "shelf"),
    "keychain": ("armchair", "sofa", *_SMALL_THINGS),
    "knife": _SMALL_KITCHEN_TOOL,
    "ladle": _SMALL_KITCHEN_TOOL,
    "laptop": ("bed", "desk", "dresser", "sidetable", "armchair", "coffeetable", "sofa", "diningtable", "ottoman"),
    "lettuce": ("countertop", "diningtable", "fridge", "sinkbasin", "sidetable"),
    "mug": (*_DISHES, "coffeemachine", "desk"),
    "newspaper": ("armchair", "coffeetable", "diningtable", "sofa", "sidetable", "ottoman", "garbagecan", "dresser"),
    "pan": ("cabinet", "countertop", "stoveburner", "diningtable", "fridge", "sinkbasin"),
    "pen": ("desk", "drawer", "dresser", "shelf", "sidetable"),
    "pencil": ("desk", "drawer", "dresser", "shelf", "sidetable"),
    "peppershaker": ("cabinet", "countertop", "diningtable", "drawer", "shelf", "sidetable"),
    "pillow": ("bed", "armchair", "sofa", "ottoman"),
    "plate": (*_DISHES, "coffeetable"),
    "plunger": ("cabinet", "toilet", "garbagecan"),
    "pot": ("cabinet", "countertop", "stoveburner", "diningtable", "fridge", "sinkbasin", "shelf"),
    "potato": _PRODUCE,
    "remotecontrol": ("armchair", "coffeetable", "sofa", "sidetable", "tvstand", "dresser", "ottoman", "drawer"),
    "saltshaker": ("cabinet", "countertop", "diningtable", "drawer", "shelf", "sidetable"),
    "scrubbrush": ("cabinet", "toilet", "countertop"),
    "soapbar": ("bathtubbasin", "cabinet", "countertop", "sinkbasin", "toilet", "garbagecan"),
    "soapbottle": ("cabinet", "countertop", "shelf", "sinkbasin", "toilet", "garbagecan"),
    "spatula": _SMALL_KITCHEN_TOOL,
    "spoon": _SMALL_KITCHEN_TOOL,
    "spraybottle": ("cabinet", "countertop", "toilet", "shelf", "garbagecan"),
    "statue": ("coffeetable", "diningtable", "shelf", "sidetable", "tvstand", "dresser", "cabinet"),
    "teddybear": ("bed", "armchair", "desk", "dresser", "shelf"),
    "tennisracket": ("bed", "desk", "armchair"),
    "tissuebox": ("countertop", "shelf", "toilet", "cabinet", "drawer", "sidetable", "dresser", "coffeetable"),
    "toiletpaper": ("toiletpaperhanger", "cabinet", "countertop", "toilet", "shelf", "drawer", "garbagecan"),
    "tomato": _PRODUCE,
    "towel": ("towelholder", "bathtubbasin", "countertop"),
    "vase": ("coffeetable", "diningtable", "shelf", "sidetable", "tvstand", "dresser", "safe", "cabinet"),
    "watch": ("desk", "dresser", "sidetable", "drawer", "safe", "shelf", "coffeetable", "tvstand"),
    "winebottle": ("cabinet", "countertop", "diningtable", "fridge", "shelf", "sidetable"),
    "desklamp": ("desk", "sidetable", "dresser", "shelf"),
    "floorlamp": ("sidetable", "dresser", "tvstand"),
}
"""Object type -> receptacle types it plausibly sits in/on, most likely first (also the expert's search order)."""

HEATABLE: frozenset[str] = frozenset({"apple", "bread", "cup", "egg", "mug", "plate", "potato", "tomato"})
"""Objects ALFWorld asks to heat."""
COOLABLE: frozenset[str] = frozenset(
    {"apple", "bread", "cup", "egg", "lettuce", "mug", "pan", "plate", "pot", "potato", "tomato", "winebottle"}
)
"""Objects ALFWorld asks to cool."""
CLEANABLE: frozenset[str] = frozenset(
    {
        "apple",
        "bowl",
        "butterknife",
        "cloth",
        "cup",
        "dishsponge",
        "egg",
        "fork",
        "kettle",
        "knife",
        "ladle",
        "lettuce",
        "mug",
        "pan",
        "plate",
        "pot",
        "potato",
        "soapbar",
        "spatula",
        "spoon",
        "tomato",
    }
)
"""Objects ALFWorld asks to clean."""
LIGHT_OBJECTS: frozenset[str] = frozenset(
    {
        "alarmclock",
        "book",
        "bowl",
        "box",
        "cd",
        "cellphone",
        "creditcard",
        "keychain",
        "laptop",
        "mug",
        "newspaper",
        "pen",
        "pencil",
        "pillow",
        "plate",
        "remotecontrol",
        "statue",
        "teddybear",
        "vase",
        "watch",
        "baseballbat",
        "basketball",
        "tennisracket",
    }
)
"""Objects ALFWorld asks to look at under a lamp."""

INTO: frozenset[str] = frozenset(
    {
        "cabinet",
        "drawer",
        "fridge",
        "microwave",
        "safe",
        "garbagecan",
        "sinkbasin",
        "bathtubbasin",
        "laundryhamper",
        "coffeemachine",
        "toaster",
    }
)
"""Receptacles one puts things *in* (the rest one puts things *on*); only for task wording."""
