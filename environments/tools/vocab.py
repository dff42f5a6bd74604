"""The fixed tables of the tools world: people, calendar titles, files, the shop, facts and units."""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "Ann", "Ben", "Carla", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam", "Maya",
    "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen", "Yusuf", "Zoe", "Leo",
    "Mia", "Ravi", "Sofia", "Theo",
)  # fmt: skip
"""First names of contacts (unique within a world)."""
LAST_NAMES: tuple[str, ...] = (
    "Lee", "Park", "Silva", "Novak", "Khan", "Garcia", "Muller", "Okafor", "Rossi", "Tanaka", "Dubois",
    "Kowalski", "Ortiz", "Chen", "Haddad", "Larsen", "Moreau", "Singh", "Costa", "Weber",
)  # fmt: skip
"""Last names of contacts."""

EVENT_TITLES: tuple[str, ...] = (
    "Dentist", "Team sync", "Yoga class", "Lunch with Sam", "Budget review", "Piano lesson", "Book club",
    "Haircut", "Car service", "Parent meeting", "Project demo", "Gym", "Doctor visit", "Coffee with Lea",
    "Sprint planning", "Tennis", "Vet appointment", "Dinner with Ravi", "Language class", "Interview",
    "Board meeting", "Movie night", "Guitar lesson", "Swim practice", "Code review", "Bank appointment",
    "Birthday party", "Study group",
)  # fmt: skip
"""Calendar event titles (unique within a world)."""
MONTH = "2025-03"
"""Every date of the world is in this month."""
WORLD_DAYS = (3, 4, 5, 6, 7)
"""Days of `MONTH` that hold the world's events."""
TASK_DAYS = tuple(range(3, 15))
"""Days of `MONTH` a task may name for a new event."""
TIMES: tuple[str, ...] = (
    "08:30", "09:00", "10:00", "10:30", "11:00", "12:00", "13:30", "14:00", "15:00", "16:30", "17:00", "18:30",
)  # fmt: skip
"""Start times of events."""

FILE_PATHS: tuple[str, ...] = (
    "notes.txt", "todo.txt", "shopping.txt", "ideas.txt", "recipe.txt", "packing.txt", "reminders.txt",
    "wifi.txt", "quotes.txt", "plans.txt", "gifts.txt", "books.txt", "garden.txt", "travel.txt", "budget.txt",
    "chores.txt",
)  # fmt: skip
"""Names of files in the world's folder."""
FILE_TEXTS: tuple[str, ...] = (
    "Buy milk, eggs and bread", "Call the plumber on Friday", "The spare key is under the blue pot",
    "Wifi password is tulip-4821", "Pack the charger and the passport", "Book club reads Dune next month",
    "Water the plants every Tuesday", "Floss every evening", "Gift idea: a travel mug for Omar",
    "Pay the rent before the 5th", "Try the lemon pasta recipe", "Meeting room B is booked at noon",
    "Renew the library card", "Return the drill to Nina", "The gate code is 7315", "Bring snacks for the hike",
    "Order new ink for the printer", "Ask about the parking permit", "Send the photos from the trip",
    "Cancel the gym trial by May", "Oil the bike chain", "Plant tulips in April", "Check the smoke alarm",
    "Repaint the back door",
)  # fmt: skip
"""Texts of files, and texts a task asks to write."""
MESSAGE_BODIES: tuple[str, ...] = (
    "running late", "see you at noon", "the meeting moved to 3 pm", "happy birthday", "call me when you can",
    "dinner is at 7", "thanks for the help", "I left the keys at the desk", "the package arrived",
    "can we talk tomorrow", "good luck today", "I will bring the slides", "the train is delayed",
    "lunch is on me", "see you at the gym", "the report is ready",
)  # fmt: skip
"""What a task asks to tell someone."""

CATALOG: tuple[tuple[str, float], ...] = (
    ("desk lamp", 24.99), ("coffee mug", 8.5), ("water bottle", 12.0), ("notebook", 3.25), ("backpack", 39.9),
    ("umbrella", 15.75), ("phone charger", 19.99), ("yoga mat", 22.4), ("tea kettle", 29.95),
    ("cutting board", 17.6), ("wall clock", 21.3), ("pillow", 14.2), ("blanket", 34.5), ("frying pan", 27.8),
    ("desk chair", 89.0), ("bike helmet", 45.0), ("alarm clock", 16.4), ("picture frame", 9.99),
    ("candle", 6.75), ("flower pot", 11.25), ("garden hose", 32.0), ("rain jacket", 59.95),
    ("tennis ball", 2.5), ("hand towel", 7.4), ("bath mat", 13.1), ("pencil case", 5.6), ("travel mug", 13.9),
    ("floor lamp", 49.99), ("soup bowl", 6.2), ("door mat", 18.0),
)  # fmt: skip
"""The shop's goods: (name, unit price). Every name takes a plain `s` in the plural."""

COUNTRIES: dict[str, tuple[str, str, int]] = {
    "France": ("Paris", "euro", 68_000_000),
    "Germany": ("Berlin", "euro", 84_000_000),
    "Italy": ("Rome", "euro", 59_000_000),
    "Spain": ("Madrid", "euro", 48_000_000),
    "Portugal": ("Lisbon", "euro", 10_400_000),
    "Greece": ("Athens", "euro", 10_400_000),
    "Ireland": ("Dublin", "euro", 5_200_000),
    "Japan": ("Tokyo", "yen", 125_000_000),
    "China": ("Beijing", "renminbi", 1_410_000_000),
    "India": ("New Delhi", "rupee", 1_430_000_000),
    "Brazil": ("Brasilia", "real", 216_000_000),
    "Argentina": ("Buenos Aires", "peso", 46_000_000),
    "Mexico": ("Mexico City", "peso", 128_000_000),
    "Chile": ("Santiago", "peso", 19_600_000),
    "Peru": ("Lima", "sol", 34_000_000),
    "Canada": ("Ottawa", "Canadian dollar", 40_000_000),
    "Australia": ("Canberra", "Australian dollar", 26_000_000),
    "Egypt": ("Cairo", "Egyptian pound", 113_000_000),
    "Kenya": ("Nairobi", "shilling", 55_000_000),
    "Nigeria": ("Abuja", "naira", 224_000_000),
    "Morocco": ("Rabat", "dirham", 37_000_000),
    "Norway": ("Oslo", "krone", 5_500_000),
    "Sweden": ("Stockholm", "krona", 10_500_000),
    "Poland": ("Warsaw", "zloty", 37_000_000),
    "Switzerland": ("Bern", "Swiss franc", 8_800_000),
    "Turkey": ("Ankara", "lira", 85_000_000),
    "Thailand": ("Bangkok", "baht", 72_000_000),
    "Vietnam": ("Hanoi", "dong", 99_000_000),
    "South Korea": ("Seoul", "won", 52_000_000),
    "Indonesia": ("Jakarta", "rupiah", 278_000_000),
}
"""Country -> (capital, currency, population rounded as of 2023)."""
ELEMENTS: dict[str, tuple[str, int]] = {
    "hydrogen": ("H", 1), "helium": ("He", 2), "carbon": ("C", 6), "nitrogen": ("N", 7), "oxygen": ("O", 8),
    "neon": ("Ne", 10), "sodium": ("Na", 11), "magnesium": ("Mg", 12), "aluminium": ("Al", 13),
    "silicon": ("Si", 14), "sulfur": ("S", 16), "chlorine": ("Cl", 17), "potassium": ("K", 19),
    "calcium": ("Ca", 20), "iron": ("Fe", 26), "nickel": ("Ni", 28), "copper": ("Cu", 29), "zinc": ("Zn", 30),
    "silver": ("Ag", 47), "tin": ("Sn", 50), "gold": ("Au", 79), "mercury": ("Hg", 80), "lead": ("Pb", 82),
    "uranium": ("U", 92),
}  # fmt: skip
"""Chemical element -> (symbol, atomic number)."""
FACTS: dict[str, dict[str, str | int]] = {
    "capital": {k: v[0] for k, v in COUNTRIES.items()},
    "currency": {k: v[1] for k, v in COUNTRIES.items()},
    "population": {k: v[2] for k, v in COUNTRIES.items()},
    "symbol": {k: v[0] for k, v in ELEMENTS.items()},
    "atomic_number": {k: v[1] for k, v in ELEMENTS.items()},
}
"""The offline fact table `facts_lookup` reads: topic -> key -> value."""
FACT_WORDS: dict[str, str] = {
    "capital": "capital",
    "currency": "currency",
    "population": "population",
    "symbol": "chemical symbol",
    "atomic_number": "atomic number",
}
"""How a fact topic is said in a sentence."""

UNITS: dict[str, tuple[str, float]] = {
    "m": ("length", 1.0), "km": ("length", 1000.0), "cm": ("length", 0.01), "mi": ("length", 1609.344),
    "ft": ("length", 0.3048), "in": ("length", 0.0254), "kg": ("mass", 1.0), "g": ("mass", 0.001),
    "lb": ("mass", 0.45359237), "oz": ("mass", 0.028349523125), "l": ("volume", 1.0), "ml": ("volume", 0.001),
    "gal": ("volume", 3.785411784), "c": ("temperature", 1.0), "f": ("temperature", 1.0),
    "k": ("temperature", 1.0),
}  # fmt: skip
"""Unit -> (dimension, size in the dimension's base unit: metre, kilogram, litre; temperatures are special)."""
UNIT_WORDS: dict[str, str] = {
    "m": "meters", "km": "kilometers", "cm": "centimeters", "mi": "miles", "ft": "feet", "in": "inches",
    "kg": "kilograms", "g": "grams", "lb": "pounds", "oz": "ounces", "l": "liters", "ml": "milliliters",
    "gal": "gallons", "c": "degrees Celsius", "f": "degrees Fahrenheit", "k": "kelvin",
}  # fmt: skip
"""How a unit is said in a sentence."""
