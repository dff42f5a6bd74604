"""The `graded` code suite: small Python function tasks in four tiers, generated deterministically.

The suite is built for the small embedded model: its tasks go from one-liners to small algorithms, so that
self-training has tasks it can learn from at every step of difficulty.

Tiers:

1. one-liners on one argument (return the last element, double a number, lower-case a string, ...);
2. one-liners or short comprehensions with a condition or two arguments (sum of the multiples of 3, clamp,
   keep the words of at least n letters, ...);
3. short loops, a few lines with an edge case (running sums, second largest distinct value, fizzbuzz, ...);
4. small algorithms (dedupe preserving order, run-length encoding, binary search, balanced brackets, ...).

Tasks come in *families*: a family is one kind of job ("sum of the elements divisible by k") and holds 6-8
*variants* that differ in constants, names, argument types or phrasing. Every variant is written out below as a
signature, a plain docstring, a canonical body and a few argument tuples (one of them an edge case). The
expected values in the docstring examples (the first two argument tuples, or the first one) and in the tests are
computed here by running the canonical body, so a prompt, its solution and its tests always agree.

Split rule (fixed): within a family, the variant with 0-based index i goes to `test` when i % 5 is 1 or 3, and to
`train` otherwise. A family of 6 variants thus gives 4 train / 2 test, one of 7 gives 4 / 3 and one of 8 gives
5 / 3: every family is in both splits and about 60% of the tasks are train tasks, in every tier. Train and test
teach the same skills with different constants and names, never the same prompt.

Order: families are interleaved across tiers (tier 1, 2, 3, 4, tier 1, ...) and tasks are listed variant index
first, family second, so any prefix of a split (`--limit 24`) mixes families and tiers.

The generated file is `environments/code/data/graded.jsonl` (committed). Regenerate it with
`python -m environments.code.graded --write`; `--check` exits 1 when the file differs from what this module
generates. Prompts and solutions use only builtins and `typing`; this module uses only the standard library.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUITE_FILE = Path(__file__).parent / "data" / "graded.jsonl"
PREFIX = "graded"
TEST_SLOTS = (1, 3)
"""A variant goes to `test` when its index in its family, modulo 5, is one of these."""
TYPING_NAMES = ("Dict", "List", "Optional", "Tuple")


@dataclass(frozen=True)
class V:
    """One variant: a function to write, with the arguments its tests call it on."""

    name: str
    params: str
    returns: str
    doc: str
    body: str
    cases: tuple[Any, ...]
    """Arguments of each test call: a plain value for a one-parameter function, else a tuple."""
    shown: int = 2
    """How many of the first cases the docstring shows as `>>>` examples."""


@dataclass(frozen=True)
class Family:
    name: str
    tier: int
    variants: tuple[V, ...]


def fam(name: str, tier: int, *variants: V) -> Family:
    return Family(name, tier, variants)


def v(name: str, params: str, returns: str, doc: str, body: str, cases: list[Any], shown: int = 2) -> V:
    return V(name, params, returns, doc, body, tuple(cases), shown)


def split_params(params: str) -> list[str]:
    """Parameter names of a signature's parameter list (commas inside brackets are not separators)."""
    names, depth, start = [], 0, 0
    for i, ch in enumerate(params + ","):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            names.append(params[start:i].split(":")[0].strip())
            start = i + 1
    return names


def arg_tuple(variant: V, case: Any) -> tuple[Any, ...]:
    return (case,) if len(split_params(variant.params)) == 1 else tuple(case)


def call_text(name: str, args: tuple[Any, ...]) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def prompt_of(variant: V, examples: list[tuple[tuple[Any, ...], Any]]) -> str:
    header = f"def {variant.name}({variant.params}) -> {variant.returns}:"
    used = [t for t in TYPING_NAMES if re.search(rf"\b{t}\b", header)]
    imports = f"from typing import {', '.join(used)}\n\n\n" if used else ""
    doc = textwrap.fill(
        variant.doc,
        width=76,
        initial_indent="    ",
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    lines = [header, '    """' + doc[4:]]
    for args, result in examples:
        lines += [f"    >>> {call_text(variant.name, args)}", f"    {result!r}"]
    lines.append('    """')
    return imports + "\n".join(lines) + "\n"


def records_of(family: Family) -> list[dict[str, Any]]:
    """The task records of one family's variants (without task ids), checked for consistency."""
    records = []
    for index, variant in enumerate(family.variants):
        where = f"{family.name}/{variant.name}"
        if not 3 <= len(variant.cases) <= 6:
            raise ValueError(f"{where}: needs 3-6 cases, has {len(variant.cases)}")
        body = textwrap.indent(textwrap.dedent(variant.body).strip("\n"), "    ") + "\n"
        draft = prompt_of(variant, [])
        namespace: dict[str, Any] = {}
        exec(compile(draft + body, where, "exec"), namespace)
        fn = namespace[variant.name]
        calls = []
        for case in variant.cases:
            args = arg_tuple(variant, case)
            kept = copy.deepcopy(args)
            result = fn(*args)
            if args != kept:
                raise ValueError(f"{where}: the canonical solution changes its arguments {kept!r}")
            calls.append((args, result))
        first = split_params(variant.params)[0]
        if all(result is None for _, result in calls):
            raise ValueError(f"{where}: a `return None` stub would pass")
        if all(result == args[0] for args, result in calls):
            raise ValueError(f"{where}: a `return {first}` stub would pass")
        prompt = prompt_of(variant, calls[: variant.shown])
        if "\\" in prompt:
            raise ValueError(f"{where}: keep backslashes out of prompts")
        test = "def check(candidate):\n" + "".join(
            f"    assert candidate({', '.join(repr(a) for a in args)}) == {result!r}\n" for args, result in calls
        )
        records.append(
            {
                "prompt": prompt,
                "entry_point": variant.name,
                "canonical_solution": body,
                "test": test,
                "split": "test" if index % 5 in TEST_SLOTS else "train",
                "tier": family.tier,
                "family": family.name,
            }
        )
    return records


def build() -> list[dict[str, Any]]:
    """Every task of the suite, in file order, with ids `graded/000`, `graded/001`, ..."""
    by_tier = [[f for f in FAMILIES if f.tier == tier] for tier in (1, 2, 3, 4)]
    ordered = [f for group in zip(*by_tier, strict=True) for f in group]
    per_family = [records_of(f) for f in ordered]
    rows = []
    for index in range(max(len(r) for r in per_family)):
        rows += [r[index] for r in per_family if index < len(r)]
    names = [r["entry_point"] for r in rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"entry points used twice: {dupes}")
    bodies = [re.sub(rf"\b{r['entry_point']}\b", "f", r["prompt"]) for r in rows]
    if len(set(bodies)) != len(bodies):
        raise ValueError("two tasks have the same prompt apart from the function name")
    return [{"task_id": f"{PREFIX}/{i:03d}", **r} for i, r in enumerate(rows)]


def render() -> str:
    """The suite file's text."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build())


# The task tables. Each variant: v(name, params, return type, docstring text, canonical body, cases).
# fmt: off

# ---------------------------------------------------------------------------------------------------------------
# Tier 1: one-liners on one argument.
# ---------------------------------------------------------------------------------------------------------------

TIER1 = [
    fam("pick_element", 1,
        v("first_item", "items: List[int]", "int",
          "Return the first element of items. items is never empty.",
          "return items[0]",
          [[4, 7, 1], [9], [-2, 5], [0, 3, 3]]),
        v("last_item", "nums: List[int]", "int",
          "Return the last element of nums. nums is never empty.",
          "return nums[-1]",
          [[4, 7, 1], [9], [5, -2], [3, 3, 0]]),
        v("second_item", "values: List[int]", "int",
          "Return the second element of values. values always has at least two elements.",
          "return values[1]",
          [[4, 7, 1], [9, 2], [5, -2, 8, 8], [0, 0]]),
        v("last_word", "words: List[str]", "str",
          "Return the last string in words. words is never empty.",
          "return words[-1]",
          [["red", "green", "blue"], ["one"], ["b", "a"], ["x", "y", "z", "w"]]),
        v("second_to_last", "nums: List[int]", "int",
          "Return the element just before the last one in nums. nums always has at least two elements.",
          "return nums[-2]",
          [[1, 2, 3], [8, 9], [5, 5, 6, 7], [-1, 0, 4]]),
        v("first_word", "words: List[str]", "str",
          "Return the first string in words. words is never empty.",
          "return words[0]",
          [["apple", "pear"], ["solo"], ["", "b"], ["z", "y", "x"]]),
        v("third_item", "nums: List[int]", "int",
          "Return the third element of nums. nums always has at least three elements.",
          "return nums[2]",
          [[1, 2, 3, 4], [7, 8, 9], [0, 0, -5], [10, 20, 30, 40, 50]]),
    ),
    fam("scale_number", 1,
        v("double", "n: int", "int",
          "Return n multiplied by 2.",
          "return n * 2",
          [3, 0, -4, 25]),
        v("triple", "x: int", "int",
          "Return x multiplied by 3.",
          "return x * 3",
          [5, -2, 0, 11]),
        v("times_ten", "n: int", "int",
          "Return n times 10.",
          "return n * 10",
          [7, 0, -3, 12]),
        v("quadruple", "value: int", "int",
          "Return value multiplied by 4.",
          "return value * 4",
          [2, 0, -5, 10]),
        v("times_five", "n: int", "int",
          "Return five times n.",
          "return n * 5",
          [4, -1, 0, 20]),
        v("times_hundred", "amount: int", "int",
          "Return amount multiplied by 100.",
          "return amount * 100",
          [3, 0, -2, 15]),
        v("negate", "n: int", "int",
          "Return n with its sign flipped, that is n multiplied by -1.",
          "return -n",
          [5, -3, 0, 12]),
        v("halve", "n: int", "int",
          "Return n divided by 2, rounded down (use integer division //).",
          "return n // 2",
          [10, 7, 0, 1, -3]),
    ),
    fam("full_units", 1,
        v("full_hours", "minutes: int", "int",
          "Return how many full hours fit in the given number of minutes (an hour has 60 minutes).",
          "return minutes // 60",
          [125, 59, 60, 0, 600]),
        v("full_days", "hours: int", "int",
          "Return how many full days fit in the given number of hours (a day has 24 hours).",
          "return hours // 24",
          [50, 23, 24, 0, 240]),
        v("full_weeks", "days: int", "int",
          "Return how many full weeks fit in the given number of days (a week has 7 days).",
          "return days // 7",
          [15, 6, 7, 0, 70]),
        v("full_dozens", "eggs: int", "int",
          "Return how many full boxes of 12 eggs can be filled with the given number of eggs.",
          "return eggs // 12",
          [30, 11, 12, 0, 144]),
        v("full_minutes", "seconds: int", "int",
          "Return how many full minutes are in the given number of seconds (a minute has 60 seconds).",
          "return seconds // 60",
          [150, 59, 60, 0, 3600]),
        v("full_meters", "cm: int", "int",
          "Return how many full meters are in cm centimeters (100 cm is 1 m).",
          "return cm // 100",
          [250, 99, 100, 0, 1000]),
        v("full_kilobytes", "size: int", "int",
          "Return how many full kilobytes are in size bytes (a kilobyte is 1024 bytes).",
          "return size // 1024",
          [3000, 1023, 1024, 0, 10240]),
    ),
    fam("change_case", 1,
        v("to_lower", "s: str", "str",
          "Return s with every letter changed to lower case.",
          "return s.lower()",
          ["Hello", "ABC def", "", "already"]),
        v("to_upper", "text: str", "str",
          "Return text with every letter changed to upper case.",
          "return text.upper()",
          ["Hello", "abc 123", "", "UP"]),
        v("swap_case", "s: str", "str",
          "Return s with its upper-case letters made lower case and its lower-case letters made upper case.",
          "return s.swapcase()",
          ["Hello World", "abc", "", "123 XyZ"]),
        v("title_case", "s: str", "str",
          "Return s with the first letter of every word in upper case and the other letters in lower case.",
          "return s.title()",
          ["hello world", "PYTHON code", "", "a b c"]),
        v("capitalize_first", "word: str", "str",
          "Return word with its first character in upper case and all other characters in lower case.",
          "return word.capitalize()",
          ["hello", "wORLD", "", "x"]),
        v("shout", "message: str", "str",
          "Return message in upper case with an exclamation mark added at the end.",
          'return message.upper() + "!"',
          ["hi", "stop it", "", "OK"]),
        v("whisper", "message: str", "str",
          "Return message in lower case followed by three dots.",
          'return message.lower() + "..."',
          ["Hello", "QUIET PLEASE", "", "ok"]),
    ),
    fam("length_of", 1,
        v("list_length", "items: List[int]", "int",
          "Return how many elements items has.",
          "return len(items)",
          [[1, 2, 3], [], [0], [5, 5, 5, 5, 5]]),
        v("string_length", "s: str", "int",
          "Return the number of characters in s. Spaces count too.",
          "return len(s)",
          ["hello", "", "a b", "  "]),
        v("word_count", "sentence: str", "int",
          "Return the number of words in sentence. Words are separated by spaces.",
          "return len(sentence.split())",
          ["the cat sat", "", "one", "  two  words "]),
        v("count_keys", "d: Dict[str, int]", "int",
          "Return how many keys the dictionary d has.",
          "return len(d)",
          [{"a": 1, "b": 2}, {}, {"x": 0}, {"p": 5, "q": 5, "r": 5}]),
        v("length_without_spaces", "s: str", "int",
          "Return the number of characters in s that are not spaces.",
          'return len(s.replace(" ", ""))',
          ["a b c", "", "   ", "hello"]),
        v("count_names", "names: List[str]", "int",
          "Return how many strings are in names.",
          "return len(names)",
          [["ann", "bob"], [], [""], ["a", "b", "c"]]),
        v("last_index", "nums: List[int]", "int",
          "Return the index of the last element of nums, or -1 if nums is empty.",
          "return len(nums) - 1",
          [[4, 5, 6], [], [9], [1, 1, 1, 1]]),
    ),
    fam("power", 1,
        v("square", "n: int", "int",
          "Return n squared, that is n times n.",
          "return n * n",
          [3, 0, -4, 1, 10]),
        v("cube", "n: int", "int",
          "Return n cubed, that is n * n * n.",
          "return n ** 3",
          [2, 0, -3, 1, 5]),
        v("fourth_power", "x: int", "int",
          "Return x raised to the power 4.",
          "return x ** 4",
          [2, 0, -1, 3]),
        v("two_to_the", "n: int", "int",
          "Return 2 raised to the power n. n is never negative.",
          "return 2 ** n",
          [3, 0, 1, 10]),
        v("ten_to_the", "n: int", "int",
          "Return 10 raised to the power n. n is never negative.",
          "return 10 ** n",
          [2, 0, 1, 5]),
        v("three_to_the", "exponent: int", "int",
          "Return 3 raised to the power exponent. exponent is never negative.",
          "return 3 ** exponent",
          [2, 0, 1, 4]),
        v("square_of_double", "n: int", "int",
          "Return the square of 2 * n.",
          "return (2 * n) ** 2",
          [3, 0, -1, 5]),
    ),
    fam("reverse", 1,
        v("reverse_text", "text: str", "str",
          "Return text with its characters in reverse order.",
          "return text[::-1]",
          ["hello", "", "ab", "racecar!"]),
        v("reverse_numbers", "nums: List[int]", "List[int]",
          "Return a new list with the elements of nums in reverse order.",
          "return nums[::-1]",
          [[1, 2, 3], [], [7], [4, 4, 5]]),
        v("reverse_names", "names: List[str]", "List[str]",
          "Return a new list with the strings of names in reverse order.",
          "return names[::-1]",
          [["ann", "bob", "cy"], [], ["solo"], ["x", "y"]]),
        v("reverse_sentence", "sentence: str", "str",
          "Return the words of sentence in reverse order, joined by single spaces. Words are separated by single "
          "spaces.",
          'return " ".join(sentence.split()[::-1])',
          ["the cat sat", "", "one", "a b"]),
        v("mirror", "s: str", "str",
          "Return s followed by s reversed.",
          "return s + s[::-1]",
          ["abc", "", "x", "ab"]),
        v("reverse_upper", "s: str", "str",
          "Return s reversed and in upper case.",
          "return s[::-1].upper()",
          ["abc", "", "Hi there", "A"]),
    ),
    fam("list_aggregate", 1,
        v("total", "nums: List[int]", "int",
          "Return the sum of all numbers in nums. An empty list gives 0.",
          "return sum(nums)",
          [[1, 2, 3], [], [-5, 5], [10]]),
        v("largest", "nums: List[int]", "int",
          "Return the largest number in nums. nums is never empty.",
          "return max(nums)",
          [[3, 9, 2], [-4, -2, -7], [5], [1, 1]]),
        v("smallest", "nums: List[int]", "int",
          "Return the smallest number in nums. nums is never empty.",
          "return min(nums)",
          [[3, 9, 2], [-4, -2, -7], [5], [8, 8, 9]]),
        v("first_alphabetically", "words: List[str]", "str",
          "Return the string in words that comes first in alphabetical order. words is never empty.",
          "return min(words)",
          [["pear", "apple", "fig"], ["solo"], ["b", "a"], ["cat", "car"]]),
        v("spread", "nums: List[int]", "int",
          "Return the largest number in nums minus the smallest one. nums is never empty.",
          "return max(nums) - min(nums)",
          [[3, 9, 2], [5], [-4, 4], [7, 7, 7]]),
        v("last_alphabetically", "words: List[str]", "str",
          "Return the string in words that comes last in alphabetical order. words is never empty.",
          "return max(words)",
          [["pear", "apple", "fig"], ["solo"], ["a", "b"], ["car", "cat"]]),
        v("double_total", "nums: List[int]", "int",
          "Return two times the sum of the numbers in nums. An empty list gives 0.",
          "return 2 * sum(nums)",
          [[1, 2, 3], [], [-1], [5, 5]]),
    ),
    fam("divisible_by", 1,
        v("is_even", "n: int", "bool",
          "Return True if n is even, otherwise False.",
          "return n % 2 == 0",
          [4, 7, 0, -3, -8]),
        v("is_odd", "n: int", "bool",
          "Return True if n is odd, otherwise False.",
          "return n % 2 == 1",
          [7, 4, 0, -3]),
        v("divisible_by_three", "n: int", "bool",
          "Return True if n is divisible by 3, otherwise False.",
          "return n % 3 == 0",
          [9, 10, 0, -6]),
        v("divisible_by_five", "x: int", "bool",
          "Return True if x is divisible by 5, otherwise False.",
          "return x % 5 == 0",
          [25, 12, 0, -7]),
        v("divisible_by_seven", "n: int", "bool",
          "Return True if n is a multiple of 7, otherwise False.",
          "return n % 7 == 0",
          [14, 15, 0, -21]),
        v("multiple_of_ten", "n: int", "bool",
          "Return True if n is a multiple of 10, otherwise False.",
          "return n % 10 == 0",
          [30, 35, 0, 5]),
        v("divisible_by_four", "num: int", "bool",
          "Return True if num is divisible by 4, otherwise False.",
          "return num % 4 == 0",
          [8, 6, 0, 2, -12]),
    ),
    fam("compare_constant", 1,
        v("is_positive", "n: int", "bool",
          "Return True if n is greater than 0, otherwise False.",
          "return n > 0",
          [5, -2, 0, 1]),
        v("is_negative", "n: int", "bool",
          "Return True if n is less than 0, otherwise False.",
          "return n < 0",
          [-5, 2, 0, -1]),
        v("is_zero", "x: int", "bool",
          "Return True if x is 0, otherwise False.",
          "return x == 0",
          [0, 3, -1]),
        v("is_non_negative", "n: int", "bool",
          "Return True if n is 0 or more, otherwise False.",
          "return n >= 0",
          [3, -3, 0, -1]),
        v("is_big", "n: int", "bool",
          "Return True if n is greater than 100, otherwise False.",
          "return n > 100",
          [150, 50, 100, 101]),
        v("is_small", "n: int", "bool",
          "Return True if n is less than 10, otherwise False.",
          "return n < 10",
          [3, 25, 10, 9, -4]),
        v("is_adult", "age: int", "bool",
          "Return True if age is 18 or more, otherwise False.",
          "return age >= 18",
          [30, 12, 18, 17]),
    ),
    fam("string_test", 1,
        v("only_digits", "s: str", "bool",
          "Return True if s is not empty and every character of s is a digit 0-9, otherwise False.",
          "return s.isdigit()",
          ["12345", "12a", "", "0"]),
        v("only_letters", "s: str", "bool",
          "Return True if s is not empty and every character of s is a letter, otherwise False.",
          "return s.isalpha()",
          ["hello", "hi there", "", "abc1"]),
        v("is_shouting", "s: str", "bool",
          "Return True if s contains at least one letter and every letter in s is upper case, otherwise False.",
          "return s.isupper()",
          ["HELLO!", "Hello", "", "123"]),
        v("is_quiet", "s: str", "bool",
          "Return True if s contains at least one letter and every letter in s is lower case, otherwise False.",
          "return s.islower()",
          ["hello!", "Hello", "", "42"]),
        v("is_blank", "s: str", "bool",
          "Return True if s is empty or contains only spaces, otherwise False.",
          'return s.strip(" ") == ""',
          ["   ", " a ", "", "x"]),
        v("is_alphanumeric", "s: str", "bool",
          "Return True if s is not empty and every character of s is a letter or a digit, otherwise False.",
          "return s.isalnum()",
          ["abc123", "abc 123", "", "x"]),
        v("starts_with_capital", "s: str", "bool",
          "Return True if the first character of s is an upper-case letter, otherwise False. An empty string gives "
          "False.",
          "return s[:1].isupper()",
          ["Hello", "hello", "", "1A"]),
    ),
    fam("string_slice", 1,
        v("first_three", "s: str", "str",
          "Return the first three characters of s, or all of s if it is shorter.",
          "return s[:3]",
          ["python", "ab", "", "abc"]),
        v("last_two", "s: str", "str",
          "Return the last two characters of s, or all of s if it is shorter.",
          "return s[-2:]",
          ["python", "a", "", "ab"]),
        v("drop_first", "s: str", "str",
          "Return s without its first character. An empty string stays empty.",
          "return s[1:]",
          ["hello", "a", "", "xy"]),
        v("drop_last", "s: str", "str",
          "Return s without its last character. An empty string stays empty.",
          "return s[:-1]",
          ["hello", "a", "", "xy"]),
        v("first_char", "s: str", "str",
          "Return the first character of s, or an empty string if s is empty.",
          "return s[:1]",
          ["hello", "", "z", "ab"]),
        v("last_char", "word: str", "str",
          "Return the last character of word, or an empty string if word is empty.",
          "return word[-1:]",
          ["hello", "", "z", "ab"]),
        v("first_five", "text: str", "str",
          "Return the first five characters of text, or all of text if it is shorter.",
          "return text[:5]",
          ["abcdefgh", "abc", "", "hello world"]),
    ),
    fam("sort_items", 1,
        v("sort_ascending", "nums: List[int]", "List[int]",
          "Return a new list with the numbers of nums from smallest to largest.",
          "return sorted(nums)",
          [[3, 1, 2], [], [5, -1, 5], [1, 2]]),
        v("sort_descending", "nums: List[int]", "List[int]",
          "Return a new list with the numbers of nums from largest to smallest.",
          "return sorted(nums, reverse=True)",
          [[3, 1, 2], [], [5, -1, 5], [2, 1, 3]]),
        v("sort_words", "words: List[str]", "List[str]",
          "Return a new list with the strings of words in alphabetical order.",
          "return sorted(words)",
          [["pear", "apple", "fig"], [], ["b", "a"], ["cat", "car", "cab"]]),
        v("sort_letters", "s: str", "str",
          "Return a string with the characters of s in sorted order.",
          'return "".join(sorted(s))',
          ["banana", "", "cba", "a"]),
        v("sort_words_descending", "words: List[str]", "List[str]",
          "Return a new list with the strings of words in reverse alphabetical order.",
          "return sorted(words, reverse=True)",
          [["pear", "apple", "fig"], [], ["a", "b"], ["car", "cat"]]),
        v("three_smallest", "nums: List[int]", "List[int]",
          "Return the three smallest numbers of nums from smallest to largest, or all of nums sorted if it has fewer "
          "than three.",
          "return sorted(nums)[:3]",
          [[5, 1, 4, 2, 3], [], [9, 8], [7, 7, 1, 7]], shown=1),
        v("sort_letters_descending", "word: str", "str",
          "Return a string with the characters of word sorted from last to first.",
          'return "".join(sorted(word, reverse=True))',
          ["banana", "", "abc", "z"]),
    ),
    fam("replace_char", 1,
        v("spaces_to_underscores", "s: str", "str",
          "Return s with every space replaced by an underscore.",
          'return s.replace(" ", "_")',
          ["a b c", "", "nospace", "  "]),
        v("dashes_to_spaces", "s: str", "str",
          "Return s with every dash '-' replaced by a space.",
          'return s.replace("-", " ")',
          ["well-known", "", "a--b", "plain"]),
        v("remove_spaces", "s: str", "str",
          "Return s with all spaces removed.",
          'return s.replace(" ", "")',
          ["a b c", "", "   ", "abc"]),
        v("remove_commas", "text: str", "str",
          "Return text with all commas removed.",
          'return text.replace(",", "")',
          ["1,000,000", "", "a, b", "none"]),
        v("underscores_to_spaces", "name: str", "str",
          "Return name with every underscore replaced by a space.",
          'return name.replace("_", " ")',
          ["snake_case_name", "", "__", "plain"]),
        v("remove_exclamations", "s: str", "str",
          "Return s with every exclamation mark '!' removed.",
          'return s.replace("!", "")',
          ["Hi!!", "", "wow! ok!", "calm"]),
        v("dots_to_commas", "s: str", "str",
          "Return s with every dot '.' replaced by a comma.",
          'return s.replace(".", ",")',
          ["3.14", "", "a.b.c", "none"]),
    ),
    fam("decorate", 1,
        v("exclaim", "s: str", "str",
          "Return s with an exclamation mark '!' added at the end.",
          'return s + "!"',
          ["Hello", "", "wow"]),
        v("in_brackets", "s: str", "str",
          "Return s wrapped in round brackets, like '(' + s + ')'.",
          'return "(" + s + ")"',
          ["hi", "", "a b"]),
        v("repeat_twice", "s: str", "str",
          "Return s repeated two times.",
          "return s * 2",
          ["ab", "", "x"]),
        v("repeat_three_times", "word: str", "str",
          "Return word repeated three times.",
          "return word * 3",
          ["ab", "", "x"]),
        v("greet", "name: str", "str",
          "Return the greeting 'Hello, ' followed by name and an exclamation mark.",
          'return "Hello, " + name + "!"',
          ["Ann", "", "Bob Smith"]),
        v("add_period", "sentence: str", "str",
          "Return sentence with a dot '.' added at the end.",
          'return sentence + "."',
          ["I am here", "", "Yes"]),
        v("in_quotes", "s: str", "str",
          "Return s with a double quote character added before it and after it.",
          'return \'"\' + s + \'"\'',
          ["hi", "", "a b"]),
    ),
    fam("digits_basic", 1,
        v("last_digit", "n: int", "int",
          "Return the last digit of n. n is never negative.",
          "return n % 10",
          [123, 7, 0, 50]),
        v("drop_last_digit", "n: int", "int",
          "Return n without its last digit. n is never negative.",
          "return n // 10",
          [123, 7, 0, 50]),
        v("digit_count", "n: int", "int",
          "Return how many digits n has. n is never negative.",
          "return len(str(n))",
          [123, 7, 0, 1000]),
        v("first_digit", "n: int", "int",
          "Return the first (leftmost) digit of n. n is never negative.",
          "return int(str(n)[0])",
          [123, 7, 0, 9050]),
        v("last_two_digits", "n: int", "int",
          "Return the number formed by the last two digits of n. n is never negative.",
          "return n % 100",
          [1234, 7, 0, 500]),
        v("tens_digit", "n: int", "int",
          "Return the tens digit of n (the second digit from the right). n is never negative.",
          "return n // 10 % 10",
          [1234, 7, 0, 90]),
        v("is_single_digit", "n: int", "bool",
          "Return True if n has only one digit, otherwise False. n is never negative.",
          "return n < 10",
          [7, 42, 0, 10]),
    ),
]


# ---------------------------------------------------------------------------------------------------------------
# Tier 2: one-liners or short comprehensions with a condition or two arguments.
# ---------------------------------------------------------------------------------------------------------------

TIER2 = [
    fam("sum_if", 2,
        v("sum_multiples_of_three", "nums: List[int]", "int",
          "Return the sum of the numbers in nums that are divisible by 3. Return 0 if there are none.",
          "return sum(n for n in nums if n % 3 == 0)",
          [[1, 3, 6, 7], [], [1, 2, 4], [-3, 9, 10]]),
        v("sum_of_evens", "nums: List[int]", "int",
          "Return the sum of the even numbers in nums. Return 0 if there are none.",
          "return sum(n for n in nums if n % 2 == 0)",
          [[1, 2, 3, 4], [], [1, 3], [-2, 8, 5]]),
        v("sum_of_odds", "nums: List[int]", "int",
          "Return the sum of the odd numbers in nums. Return 0 if there are none.",
          "return sum(n for n in nums if n % 2 == 1)",
          [[1, 2, 3, 4], [], [2, 4], [-3, 5, 6]]),
        v("sum_multiples_of_five", "values: List[int]", "int",
          "Return the sum of the numbers in values that are divisible by 5. Return 0 if there are none.",
          "return sum(x for x in values if x % 5 == 0)",
          [[5, 6, 10, 11], [], [1, 2], [-5, 25, 3]]),
        v("sum_positive", "nums: List[int]", "int",
          "Return the sum of the numbers in nums that are greater than 0. Return 0 if there are none.",
          "return sum(n for n in nums if n > 0)",
          [[1, -2, 3], [], [-1, -5], [0, 4, 4]]),
        v("sum_negative", "nums: List[int]", "int",
          "Return the sum of the numbers in nums that are less than 0. Return 0 if there are none.",
          "return sum(n for n in nums if n < 0)",
          [[1, -2, 3, -4], [], [1, 5], [0, -7]]),
        v("sum_greater_than", "nums: List[int], k: int", "int",
          "Return the sum of the numbers in nums that are greater than k. Return 0 if there are none.",
          "return sum(n for n in nums if n > k)",
          [([1, 5, 8, 3], 4), ([], 0), ([1, 2], 5), ([-1, 0, 1], -1)]),
        v("sum_multiples_of", "nums: List[int], k: int", "int",
          "Return the sum of the numbers in nums that are divisible by k. k is never 0. Return 0 if there are none.",
          "return sum(n for n in nums if n % k == 0)",
          [([1, 4, 8, 9], 4), ([], 3), ([1, 2], 7), ([6, 7, 12], 6)]),
    ),
    fam("count_if", 2,
        v("count_evens", "nums: List[int]", "int",
          "Return how many numbers in nums are even.",
          "return sum(1 for n in nums if n % 2 == 0)",
          [[1, 2, 3, 4], [], [1, 3], [0, -2, 5]]),
        v("count_negatives", "nums: List[int]", "int",
          "Return how many numbers in nums are less than 0.",
          "return sum(1 for n in nums if n < 0)",
          [[1, -2, 3, -4], [], [0, 5], [-1]]),
        v("count_zeros", "nums: List[int]", "int",
          "Return how many elements of nums are equal to 0.",
          "return nums.count(0)",
          [[0, 1, 0, 2], [], [1, 2], [0]]),
        v("count_greater_than", "nums: List[int], k: int", "int",
          "Return how many numbers in nums are greater than k.",
          "return sum(1 for n in nums if n > k)",
          [([1, 5, 8, 3], 4), ([], 0), ([1, 2], 5), ([4, 4, 5], 4)]),
        v("count_equal", "nums: List[int], target: int", "int",
          "Return how many elements of nums are equal to target.",
          "return nums.count(target)",
          [([1, 2, 1, 3], 1), ([], 5), ([2, 2], 3), ([7, 7, 7], 7)]),
        v("count_multiples_of_four", "values: List[int]", "int",
          "Return how many numbers in values are divisible by 4.",
          "return sum(1 for x in values if x % 4 == 0)",
          [[4, 6, 8, 10], [], [1, 2, 3], [0, -4]]),
        v("count_odds", "nums: List[int]", "int",
          "Return how many numbers in nums are odd.",
          "return sum(1 for n in nums if n % 2 == 1)",
          [[1, 2, 3, 4], [], [2, 4], [-1, 7]]),
        v("count_at_most", "nums: List[int], limit: int", "int",
          "Return how many numbers in nums are less than or equal to limit.",
          "return sum(1 for n in nums if n <= limit)",
          [([1, 5, 8, 3], 5), ([], 0), ([9, 10], 5), ([2, 2], 2)]),
    ),
    fam("filter_list", 2,
        v("keep_evens", "nums: List[int]", "List[int]",
          "Return a list of the even numbers in nums, in their original order.",
          "return [n for n in nums if n % 2 == 0]",
          [[1, 2, 3, 4], [], [1, 3], [0, -2, 5]]),
        v("keep_positives", "nums: List[int]", "List[int]",
          "Return a list of the numbers in nums that are greater than 0, in their original order.",
          "return [n for n in nums if n > 0]",
          [[1, -2, 3, 0], [], [-1, -5], [4, 4]]),
        v("keep_greater_than", "nums: List[int], k: int", "List[int]",
          "Return a list of the numbers in nums that are greater than k, in their original order.",
          "return [n for n in nums if n > k]",
          [([1, 5, 8, 3], 4), ([], 0), ([1, 2], 5), ([4, 5, 4], 4)]),
        v("keep_long_words", "words: List[str], n: int", "List[str]",
          "Return a list of the strings in words that have at least n characters, in their original order.",
          "return [w for w in words if len(w) >= n]",
          [(["a", "abc", "abcd"], 3), ([], 2), (["hi", "yo"], 3), (["tree", "sun"], 3)]),
        v("remove_zeros", "nums: List[int]", "List[int]",
          "Return a list of the elements of nums that are not 0, in their original order.",
          "return [n for n in nums if n != 0]",
          [[0, 1, 0, 2], [], [0, 0], [5, 0]]),
        v("keep_odds", "values: List[int]", "List[int]",
          "Return a list of the odd numbers in values, in their original order.",
          "return [x for x in values if x % 2 == 1]",
          [[1, 2, 3, 4], [], [2, 4], [-3, 8, 7]]),
        v("keep_capitalized", "words: List[str]", "List[str]",
          "Return a list of the strings in words whose first character is an upper-case letter, in their original "
          "order.",
          "return [w for w in words if w[:1].isupper()]",
          [["Ann", "bob", "Cy"], [], ["x", ""], ["Hi", "Yo", "no"]]),
        v("remove_value", "nums: List[int], x: int", "List[int]",
          "Return a list of the elements of nums that are not equal to x, in their original order.",
          "return [n for n in nums if n != x]",
          [([1, 2, 1, 3], 1), ([], 5), ([2, 2], 2), ([4, 5], 6)]),
    ),
    fam("map_list", 2,
        v("squares", "nums: List[int]", "List[int]",
          "Return a list with the square of each number in nums.",
          "return [n * n for n in nums]",
          [[1, 2, 3], [], [-4], [0, 5]]),
        v("doubled", "nums: List[int]", "List[int]",
          "Return a list with each number of nums multiplied by 2.",
          "return [n * 2 for n in nums]",
          [[1, 2, 3], [], [-4], [0, 5]]),
        v("add_to_each", "nums: List[int], k: int", "List[int]",
          "Return a list with k added to each number of nums.",
          "return [n + k for n in nums]",
          [([1, 2, 3], 10), ([], 5), ([-1], 1), ([0, 0], -2)]),
        v("word_lengths", "words: List[str]", "List[int]",
          "Return a list with the length of each string in words.",
          "return [len(w) for w in words]",
          [["hi", "there"], [], [""], ["abc", "a"]]),
        v("shout_all", "words: List[str]", "List[str]",
          "Return a list with each string of words in upper case.",
          "return [w.upper() for w in words]",
          [["hi", "There"], [], ["OK"], ["a", "b1"]]),
        v("negated", "nums: List[int]", "List[int]",
          "Return a list with the sign of each number in nums flipped.",
          "return [-n for n in nums]",
          [[1, -2, 3], [], [0], [-5, 5]]),
        v("first_letters", "words: List[str]", "List[str]",
          "Return a list with the first character of each string in words. No string is empty.",
          "return [w[0] for w in words]",
          [["apple", "bob"], [], ["x"], ["Hi", "yo"]]),
        v("halved", "values: List[int]", "List[int]",
          "Return a list with each number of values divided by 2, rounded down (integer division //).",
          "return [x // 2 for x in values]",
          [[4, 5, 6], [], [1], [-3, 10]]),
    ),
    fam("count_chars", 2,
        v("count_char", "s: str, c: str", "int",
          "Return how many times the character c occurs in s.",
          "return s.count(c)",
          [("banana", "a"), ("", "x"), ("abc", "z"), ("Aa", "a")]),
        v("count_upper", "s: str", "int",
          "Return how many upper-case letters are in s.",
          "return sum(1 for ch in s if ch.isupper())",
          ["Hello World", "", "abc", "ABC d"]),
        v("count_digits", "s: str", "int",
          "Return how many characters of s are digits 0-9.",
          "return sum(1 for ch in s if ch.isdigit())",
          ["a1b22", "", "none", "2024"]),
        v("count_spaces", "text: str", "int",
          "Return how many space characters are in text.",
          'return text.count(" ")',
          ["a b c", "", "none", "   "]),
        v("count_lower", "s: str", "int",
          "Return how many lower-case letters are in s.",
          "return sum(1 for ch in s if ch.islower())",
          ["Hello World", "", "ABC", "abc D"]),
        v("count_letter_e", "word: str", "int",
          "Return how many times the lower-case letter 'e' occurs in word.",
          'return word.count("e")',
          ["cheese", "", "Eve", "xyz"]),
        v("count_lower_vowels", "s: str", "int",
          "Return how many characters of s are one of the lower-case vowels a, e, i, o, u.",
          'return sum(1 for ch in s if ch in "aeiou")',
          ["education", "", "rhythm", "AEIOU ai"]),
        v("count_letters", "s: str", "int",
          "Return how many characters of s are letters.",
          "return sum(1 for ch in s if ch.isalpha())",
          ["a1 b2", "", "123", "Hi!"]),
    ),
    fam("two_numbers", 2,
        v("larger", "a: int, b: int", "int",
          "Return the larger of a and b.",
          "return max(a, b)",
          [(3, 7), (7, 3), (-1, -5), (4, 4)]),
        v("smaller", "a: int, b: int", "int",
          "Return the smaller of a and b.",
          "return min(a, b)",
          [(3, 7), (7, 3), (-1, -5), (4, 4)]),
        v("abs_difference", "a: int, b: int", "int",
          "Return the absolute difference between a and b.",
          "return abs(a - b)",
          [(3, 7), (7, 3), (-2, 2), (5, 5)]),
        v("sum_of_squares", "a: int, b: int", "int",
          "Return a squared plus b squared.",
          "return a * a + b * b",
          [(3, 4), (0, 0), (-1, 2), (5, 0)]),
        v("power", "base: int, exp: int", "int",
          "Return base raised to the power exp. exp is never negative.",
          "return base ** exp",
          [(2, 3), (5, 0), (-2, 3), (10, 2)]),
        v("int_average", "a: int, b: int", "int",
          "Return the average of a and b, rounded down: (a + b) // 2.",
          "return (a + b) // 2",
          [(4, 8), (3, 4), (0, 0), (-3, 5)]),
        v("multiply", "a: int, b: int", "int",
          "Return a multiplied by b.",
          "return a * b",
          [(3, 4), (0, 9), (-2, 5), (1, 1)]),
        v("remainder", "a: int, b: int", "int",
          "Return the remainder of a divided by b. Both are positive.",
          "return a % b",
          [(10, 3), (9, 3), (2, 5), (1, 1)]),
    ),
    fam("clamp", 2,
        v("clamp", "n: int, lo: int, hi: int", "int",
          "Return n limited to the range lo..hi: lo if n is below lo, hi if n is above hi, otherwise n. lo is never "
          "greater than hi.",
          "return max(lo, min(n, hi))",
          [(5, 1, 10), (-3, 0, 10), (15, 0, 10), (10, 0, 10), (7, 7, 7)]),
        v("clamp_percent", "p: int", "int",
          "Return p limited to the range 0..100: 0 if p is below 0, 100 if p is above 100, otherwise p.",
          "return max(0, min(p, 100))",
          [50, -5, 120, 100, 0]),
        v("cap_at", "n: int, limit: int", "int",
          "Return n, but never more than limit: if n is greater than limit return limit.",
          "return min(n, limit)",
          [(5, 10), (15, 10), (10, 10), (-3, -5)]),
        v("at_least_zero", "n: int", "int",
          "Return n if it is positive or zero, otherwise return 0.",
          "return max(n, 0)",
          [5, -3, 0, -100]),
        v("clamp_byte", "value: int", "int",
          "Return value limited to the range 0..255: 0 if value is below 0, 255 if value is above 255, otherwise "
          "value.",
          "return max(0, min(value, 255))",
          [100, -1, 300, 255]),
        v("clamp_ten", "n: int", "int",
          "Return n limited to the range -10..10: -10 if n is below -10, 10 if n is above 10, otherwise n.",
          "return max(-10, min(n, 10))",
          [5, -30, 11, -10]),
        v("at_least", "n: int, minimum: int", "int",
          "Return n, but never less than minimum: if n is smaller than minimum return minimum.",
          "return max(n, minimum)",
          [(5, 1), (-3, 0), (2, 2), (7, 9)]),
        v("cap_at_hundred", "score: int", "int",
          "Return score, but never more than 100.",
          "return min(score, 100)",
          [50, 150, 100, -5]),
    ),
    fam("prefix_suffix", 2,
        v("starts_with", "s: str, prefix: str", "bool",
          "Return True if s starts with prefix, otherwise False.",
          "return s.startswith(prefix)",
          [("hello", "he"), ("hello", "lo"), ("", "a"), ("abc", "")]),
        v("ends_with", "s: str, suffix: str", "bool",
          "Return True if s ends with suffix, otherwise False.",
          "return s.endswith(suffix)",
          [("hello", "lo"), ("hello", "he"), ("", "a"), ("abc", "abc")]),
        v("contains_text", "s: str, part: str", "bool",
          "Return True if part occurs somewhere in s, otherwise False.",
          "return part in s",
          [("hello world", "o w"), ("hello", "z"), ("", "a"), ("abc", "")]),
        v("has_char", "s: str, c: str", "bool",
          "Return True if the character c occurs in s, otherwise False.",
          "return c in s",
          [("hello", "l"), ("hello", "z"), ("", "a"), ("Abc", "a")]),
        v("is_comment", "line: str", "bool",
          "Return True if line starts with the character '#', otherwise False.",
          'return line.startswith("#")',
          ["# note", "x = 1  # note", "", "#"]),
        v("is_question", "s: str", "bool",
          "Return True if s ends with a question mark '?', otherwise False.",
          'return s.endswith("?")',
          ["Why?", "Yes.", "", "? no"]),
        v("has_space", "s: str", "bool",
          "Return True if s contains at least one space, otherwise False.",
          'return " " in s',
          ["a b", "ab", "", " "]),
        v("is_python_file", "filename: str", "bool",
          "Return True if filename ends with '.py', otherwise False.",
          'return filename.endswith(".py")',
          ["main.py", "main.txt", "", "py"]),
    ),
    fam("all_any", 2,
        v("all_positive", "nums: List[int]", "bool",
          "Return True if every number in nums is greater than 0, otherwise False. An empty list gives True.",
          "return all(n > 0 for n in nums)",
          [[1, 2, 3], [1, -2, 3], [], [0]]),
        v("any_negative", "nums: List[int]", "bool",
          "Return True if at least one number in nums is less than 0, otherwise False. An empty list gives False.",
          "return any(n < 0 for n in nums)",
          [[1, -2, 3], [1, 2], [], [0]]),
        v("all_even", "nums: List[int]", "bool",
          "Return True if every number in nums is even, otherwise False. An empty list gives True.",
          "return all(n % 2 == 0 for n in nums)",
          [[2, 4, 6], [2, 3], [], [0, -2]]),
        v("contains_zero", "nums: List[int]", "bool",
          "Return True if 0 is an element of nums, otherwise False.",
          "return 0 in nums",
          [[1, 0, 2], [1, 2], [], [0]]),
        v("any_greater_than", "nums: List[int], k: int", "bool",
          "Return True if at least one number in nums is greater than k, otherwise False.",
          "return any(n > k for n in nums)",
          [([1, 5, 3], 4), ([1, 2], 5), ([], 0), ([4, 4], 4)]),
        v("all_non_empty", "words: List[str]", "bool",
          "Return True if no string in words is empty, otherwise False. An empty list gives True.",
          'return all(w != "" for w in words)',
          [["a", "bc"], ["a", ""], [], [""]]),
        v("has_long_word", "words: List[str], n: int", "bool",
          "Return True if at least one string in words has more than n characters, otherwise False.",
          "return any(len(w) > n for w in words)",
          [(["hi", "hello"], 3), (["hi", "yo"], 3), ([], 0), (["abc"], 3)]),
        v("all_below", "nums: List[int], limit: int", "bool",
          "Return True if every number in nums is less than limit, otherwise False. An empty list gives True.",
          "return all(n < limit for n in nums)",
          [([1, 2, 3], 5), ([1, 5], 5), ([], 0), ([-1], 0)]),
    ),
    fam("join_words", 2,
        v("join_with_spaces", "words: List[str]", "str",
          "Return the strings of words joined by single spaces.",
          'return " ".join(words)',
          [["hello", "world"], [], ["one"], ["a", "b", "c"]]),
        v("join_with_commas", "words: List[str]", "str",
          "Return the strings of words joined by commas, with no spaces.",
          'return ",".join(words)',
          [["a", "b", "c"], [], ["one"], ["x", ""]]),
        v("join_with_dashes", "parts: List[str]", "str",
          "Return the strings of parts joined by dashes '-'.",
          'return "-".join(parts)',
          [["2024", "01", "31"], [], ["one"], ["a", "b"]]),
        v("join_with", "words: List[str], sep: str", "str",
          "Return the strings of words joined by sep.",
          "return sep.join(words)",
          [(["a", "b", "c"], "+"), ([], "-"), (["one"], ", "), (["x", "y"], "")]),
        v("join_letters", "chars: List[str]", "str",
          "Return the characters of chars joined into one string.",
          'return "".join(chars)',
          [["a", "b", "c"], [], ["z"], ["h", "i", "!"]]),
        v("join_numbers", "nums: List[int]", "str",
          "Return the numbers of nums written out and joined by commas, with no spaces.",
          'return ",".join(str(n) for n in nums)',
          [[1, 2, 3], [], [42], [-1, 0]]),
        v("join_upper", "words: List[str]", "str",
          "Return the strings of words in upper case, joined by single spaces.",
          'return " ".join(w.upper() for w in words)',
          [["hello", "world"], [], ["Hi"], ["a", "b"]]),
        v("join_reversed", "words: List[str]", "str",
          "Return the strings of words in reverse order, joined by single spaces.",
          'return " ".join(words[::-1])',
          [["a", "b", "c"], [], ["one"], ["x", "y"]]),
    ),
    fam("dict_lookup", 2,
        v("get_or_zero", "d: Dict[str, int], key: str", "int",
          "Return the value stored under key in d, or 0 if key is not in d.",
          "return d.get(key, 0)",
          [({"a": 1, "b": 2}, "b"), ({"a": 1}, "z"), ({}, "a"), ({"x": -4}, "x")]),
        v("get_or_default", "d: Dict[str, int], key: str, default: int", "int",
          "Return the value stored under key in d, or default if key is not in d.",
          "return d.get(key, default)",
          [({"a": 1, "b": 2}, "a", 9), ({"a": 1}, "z", 9), ({}, "a", -1), ({"x": 0}, "x", 5)]),
        v("get_or_missing", "d: Dict[str, str], key: str", "str",
          "Return the string stored under key in d, or 'missing' if key is not in d.",
          'return d.get(key, "missing")',
          [({"a": "x", "b": "y"}, "b"), ({"a": "x"}, "z"), ({}, "a")]),
        v("has_key", "d: Dict[str, int], key: str", "bool",
          "Return True if key is a key of d, otherwise False.",
          "return key in d",
          [({"a": 1, "b": 2}, "a"), ({"a": 1}, "z"), ({}, "a"), ({"x": 0}, "x")]),
        v("get_or_minus_one", "ages: Dict[str, int], name: str", "int",
          "Return the age stored for name in ages, or -1 if name is not in ages.",
          "return ages.get(name, -1)",
          [({"ann": 30, "bob": 25}, "bob"), ({"ann": 30}, "cy"), ({}, "ann")]),
        v("double_price", "prices: Dict[str, int], item: str", "int",
          "Return two times the price of item in prices, or 0 if item is not in prices.",
          "return 2 * prices.get(item, 0)",
          [({"tea": 3, "cake": 5}, "cake"), ({"tea": 3}, "pie"), ({}, "tea")]),
        v("value_is", "d: Dict[str, int], key: str, value: int", "bool",
          "Return True if key is in d and its value equals value, otherwise False.",
          "return key in d and d[key] == value",
          [({"a": 1, "b": 2}, "b", 2), ({"a": 1}, "a", 5), ({}, "a", 0), ({"x": 0}, "y", 0)]),
    ),
    fam("dict_values", 2,
        v("sum_values", "d: Dict[str, int]", "int",
          "Return the sum of all values in d. An empty dict gives 0.",
          "return sum(d.values())",
          [{"a": 1, "b": 2}, {}, {"x": -3}, {"p": 5, "q": 5}]),
        v("max_value", "d: Dict[str, int]", "int",
          "Return the largest value in d. d is never empty.",
          "return max(d.values())",
          [{"a": 1, "b": 7}, {"x": -3}, {"p": -5, "q": -2}]),
        v("sorted_keys", "d: Dict[str, int]", "List[str]",
          "Return the keys of d in alphabetical order.",
          "return sorted(d)",
          [{"b": 1, "a": 2}, {}, {"x": 0}, {"c": 1, "b": 1, "a": 1}]),
        v("sorted_values", "d: Dict[str, int]", "List[int]",
          "Return the values of d from smallest to largest.",
          "return sorted(d.values())",
          [{"a": 3, "b": 1}, {}, {"x": 0}, {"p": 5, "q": -5, "r": 5}]),
        v("keys_above", "d: Dict[str, int], k: int", "List[str]",
          "Return, in alphabetical order, the keys of d whose value is greater than k.",
          "return sorted(key for key in d if d[key] > k)",
          [({"a": 5, "b": 1, "c": 9}, 4), ({}, 0), ({"x": 1}, 1), ({"z": 2, "y": 3}, 0)]),
        v("count_values_equal", "d: Dict[str, int], value: int", "int",
          "Return how many keys of d have a value equal to value.",
          "return sum(1 for x in d.values() if x == value)",
          [({"a": 1, "b": 2, "c": 1}, 1), ({}, 0), ({"x": 3}, 4), ({"p": 0, "q": 0}, 0)]),
        v("min_value", "scores: Dict[str, int]", "int",
          "Return the smallest value in scores. scores is never empty.",
          "return min(scores.values())",
          [{"ann": 7, "bob": 3}, {"x": -3}, {"p": 5, "q": 5}]),
    ),
    fam("slice_list", 2,
        v("first_n", "nums: List[int], n: int", "List[int]",
          "Return the first n elements of nums, or all of nums if it has fewer than n. n is never negative.",
          "return nums[:n]",
          [([1, 2, 3, 4], 2), ([], 3), ([5, 6], 5), ([7, 8], 0)]),
        v("last_n", "nums: List[int], n: int", "List[int]",
          "Return the last n elements of nums, or all of nums if it has fewer than n. n is at least 1.",
          "return nums[-n:]",
          [([1, 2, 3, 4], 2), ([], 3), ([5, 6], 5), ([7, 8, 9], 1)]),
        v("drop_first_n", "nums: List[int], n: int", "List[int]",
          "Return nums without its first n elements. n is never negative.",
          "return nums[n:]",
          [([1, 2, 3, 4], 2), ([], 3), ([5, 6], 5), ([7, 8], 0)]),
        v("every_other", "nums: List[int]", "List[int]",
          "Return the elements of nums at positions 0, 2, 4, and so on.",
          "return nums[::2]",
          [[1, 2, 3, 4, 5], [], [9], [4, 5]]),
        v("odd_positions", "nums: List[int]", "List[int]",
          "Return the elements of nums at positions 1, 3, 5, and so on.",
          "return nums[1::2]",
          [[1, 2, 3, 4, 5], [], [9], [4, 5]]),
        v("every_kth", "nums: List[int], k: int", "List[int]",
          "Return the elements of nums at positions 0, k, 2*k, and so on. k is at least 1.",
          "return nums[::k]",
          [([1, 2, 3, 4, 5, 6, 7], 3), ([], 2), ([4, 5], 1), ([8, 9], 5)]),
        v("without_ends", "nums: List[int]", "List[int]",
          "Return nums without its first and its last element. A list of fewer than 3 elements gives [].",
          "return nums[1:-1]",
          [[1, 2, 3, 4], [], [5, 6], [7, 8, 9]]),
        v("first_half", "values: List[int]", "List[int]",
          "Return the first len(values) // 2 elements of values.",
          "return values[: len(values) // 2]",
          [[1, 2, 3, 4], [1, 2, 3], [], [9]]),
    ),
    fam("palindrome", 2,
        v("is_palindrome", "s: str", "bool",
          "Return True if s reads the same forwards and backwards, otherwise False.",
          "return s == s[::-1]",
          ["racecar", "hello", "", "Aa"]),
        v("is_palindrome_ignore_case", "s: str", "bool",
          "Return True if s reads the same forwards and backwards when upper and lower case are treated as equal, "
          "otherwise False.",
          "return s.lower() == s.lower()[::-1]",
          ["Racecar", "hello", "", "Abba"]),
        v("same_ignore_case", "a: str, b: str", "bool",
          "Return True if a and b are equal when upper and lower case are treated as equal, otherwise False.",
          "return a.lower() == b.lower()",
          [("Hello", "hELLO"), ("abc", "abd"), ("", ""), ("a", "aa")]),
        v("is_anagram", "a: str, b: str", "bool",
          "Return True if b uses exactly the same characters as a, each the same number of times, otherwise False.",
          "return sorted(a) == sorted(b)",
          [("listen", "silent"), ("abc", "abd"), ("", ""), ("aab", "ab")]),
        v("is_list_palindrome", "nums: List[int]", "bool",
          "Return True if nums is the same when read from either end, otherwise False.",
          "return nums == nums[::-1]",
          [[1, 2, 1], [1, 2], [], [3, 3]]),
        v("is_palindrome_number", "n: int", "bool",
          "Return True if the digits of n read the same forwards and backwards, otherwise False. n is never "
          "negative.",
          "return str(n) == str(n)[::-1]",
          [121, 123, 0, 10]),
        v("is_palindrome_no_spaces", "s: str", "bool",
          "Return True if s reads the same forwards and backwards once its spaces are removed, otherwise False.",
          """
          t = s.replace(" ", "")
          return t == t[::-1]
          """,
          ["never odd or even", "ab c", "", "a b a"]),
    ),
    fam("best_by_key", 2,
        v("longest_word", "words: List[str]", "str",
          "Return the longest string in words. If several are equally long, return the first of them. words is never "
          "empty.",
          "return max(words, key=len)",
          [["a", "abc", "ab"], ["hi", "yo"], ["x"], ["", "z"]]),
        v("shortest_word", "words: List[str]", "str",
          "Return the shortest string in words. If several are equally short, return the first of them. words is "
          "never empty.",
          "return min(words, key=len)",
          [["abc", "a", "ab"], ["hi", "yo"], ["x"], ["zz", ""]]),
        v("largest_abs", "nums: List[int]", "int",
          "Return the number in nums that is farthest from 0. If several are, return the first of them. nums is "
          "never empty.",
          "return max(nums, key=abs)",
          [[1, -7, 3], [3, -3], [0], [-2, 5, -5]]),
        v("closest_to_zero", "nums: List[int]", "int",
          "Return the number in nums that is closest to 0. If several are, return the first of them. nums is never "
          "empty.",
          "return min(nums, key=abs)",
          [[4, -2, 3], [-3, 3], [7], [5, -1, 1]]),
        v("word_with_most_a", "words: List[str]", "str",
          "Return the string in words with the most lower-case 'a' characters. If several tie, return the first of "
          "them. words is never empty.",
          'return max(words, key=lambda w: w.count("a"))',
          [["cat", "banana", "apple"], ["xy", "z"], ["a"], ["aa", "baa"]]),
        v("closest_to", "nums: List[int], target: int", "int",
          "Return the number in nums that is closest to target. If several are, return the first of them. nums is "
          "never empty.",
          "return min(nums, key=lambda n: abs(n - target))",
          [([1, 5, 9], 6), ([2, 4], 3), ([7], 0), ([10, 20, 30], 100)]),
        v("longest_list", "lists: List[List[int]]", "List[int]",
          "Return the list in lists that has the most elements. If several tie, return the first of them. lists is "
          "never empty.",
          "return max(lists, key=len)",
          [[[1], [1, 2], [3]], [[], []], [[5, 6]], [[1, 2], [3, 4]]]),
    ),
    fam("in_range", 2,
        v("between", "n: int, lo: int, hi: int", "bool",
          "Return True if n is between lo and hi, both included, otherwise False.",
          "return lo <= n <= hi",
          [(5, 1, 10), (0, 1, 10), (10, 1, 10), (11, 1, 10)]),
        v("is_digit_value", "n: int", "bool",
          "Return True if n is between 0 and 9, both included, otherwise False.",
          "return 0 <= n <= 9",
          [5, 10, 0, -1, 9]),
        v("is_valid_percent", "p: int", "bool",
          "Return True if p is between 0 and 100, both included, otherwise False.",
          "return 0 <= p <= 100",
          [50, 101, 0, -1, 100]),
        v("is_valid_hour", "h: int", "bool",
          "Return True if h is a valid hour of the day, from 0 to 23, otherwise False.",
          "return 0 <= h <= 23",
          [12, 24, 0, -1, 23]),
        v("is_valid_minute", "m: int", "bool",
          "Return True if m is a valid minute, from 0 to 59, otherwise False.",
          "return 0 <= m <= 59",
          [30, 60, 0, -5, 59]),
        v("is_teen", "age: int", "bool",
          "Return True if age is from 13 to 19, both included, otherwise False.",
          "return 13 <= age <= 19",
          [15, 12, 13, 19, 20]),
        v("strictly_between", "x: int, lo: int, hi: int", "bool",
          "Return True if x is greater than lo and less than hi, otherwise False.",
          "return lo < x < hi",
          [(5, 1, 10), (1, 1, 10), (10, 1, 10), (0, -1, 1)]),
        v("is_lowercase_letter", "c: str", "bool",
          "Return True if the single character c is one of the letters 'a' to 'z', otherwise False.",
          'return "a" <= c <= "z"',
          ["m", "M", "a", "z", "1"]),
    ),
]


# ---------------------------------------------------------------------------------------------------------------
# Tier 3: short loops, a few lines with an edge case.
# ---------------------------------------------------------------------------------------------------------------

TIER3 = [
    fam("running", 3,
        v("running_sum", "nums: List[int]", "List[int]",
          "Return a list whose element i is the sum of nums[0], ..., nums[i]. An empty list gives [].",
          """
          result = []
          total = 0
          for n in nums:
              total += n
              result.append(total)
          return result
          """,
          [[1, 2, 3], [], [5], [-1, 1, -1, 4]]),
        v("running_max", "nums: List[int]", "List[int]",
          "Return a list whose element i is the largest of nums[0], ..., nums[i]. An empty list gives [].",
          """
          result = []
          for n in nums:
              result.append(n if not result else max(result[-1], n))
          return result
          """,
          [[1, 3, 2, 5, 4], [], [-2, -5, -1], [7]]),
        v("running_min", "nums: List[int]", "List[int]",
          "Return a list whose element i is the smallest of nums[0], ..., nums[i]. An empty list gives [].",
          """
          result = []
          for n in nums:
              result.append(n if not result else min(result[-1], n))
          return result
          """,
          [[5, 3, 4, 1, 2], [], [-2, -5, -1], [7]]),
        v("running_product", "nums: List[int]", "List[int]",
          "Return a list whose element i is the product of nums[0], ..., nums[i]. An empty list gives [].",
          """
          result = []
          product = 1
          for n in nums:
              product *= n
              result.append(product)
          return result
          """,
          [[1, 2, 3, 4], [], [5], [2, 0, 3]]),
        v("prefixes", "s: str", "List[str]",
          "Return the list of the non-empty beginnings of s, from the shortest to the longest. An empty string gives "
          "[].",
          "return [s[:i] for i in range(1, len(s) + 1)]",
          ["abc", "", "x", "hey!"]),
        v("running_count_even", "nums: List[int]", "List[int]",
          "Return a list whose element i is how many of nums[0], ..., nums[i] are even. An empty list gives [].",
          """
          result = []
          count = 0
          for n in nums:
              if n % 2 == 0:
                  count += 1
              result.append(count)
          return result
          """,
          [[2, 3, 4], [], [1], [0, 0, 1]]),
        v("running_balance", "start: int, changes: List[int]", "List[int]",
          "Start with the amount start and add each number of changes in turn. Return the list of the amounts after "
          "each change. No changes give [].",
          """
          result = []
          for c in changes:
              start += c
              result.append(start)
          return result
          """,
          [(10, [5, -3, 2]), (7, []), (0, [-1]), (-5, [5, 5])]),
    ),
    fam("second_best", 3,
        v("second_largest", "nums: List[int]", "Optional[int]",
          "Return the second largest distinct value in nums, or None if nums has fewer than two distinct values.",
          """
          values = sorted(set(nums))
          if len(values) < 2:
              return None
          return values[-2]
          """,
          [[3, 1, 4, 4, 2], [5, 5], [], [-1, -2], [7, 9]]),
        v("second_smallest", "nums: List[int]", "Optional[int]",
          "Return the second smallest distinct value in nums, or None if nums has fewer than two distinct values.",
          """
          values = sorted(set(nums))
          if len(values) < 2:
              return None
          return values[1]
          """,
          [[3, 1, 4, 1, 2], [5, 5], [], [-1, -2], [9, 7]]),
        v("third_largest", "nums: List[int]", "Optional[int]",
          "Return the third largest distinct value in nums, or None if nums has fewer than three distinct values.",
          """
          values = sorted(set(nums))
          if len(values) < 3:
              return None
          return values[-3]
          """,
          [[3, 1, 4, 4, 2], [5, 6, 5], [], [-1, -2, -3], [9, 9, 8, 7, 7]]),
        v("second_largest_or_zero", "scores: List[int]", "int",
          "Return the second largest distinct value in scores, or 0 if scores has fewer than two distinct values.",
          """
          values = sorted(set(scores))
          if len(values) < 2:
              return 0
          return values[-2]
          """,
          [[10, 30, 20, 30], [4, 4], [], [-5, -9]]),
        v("third_smallest", "nums: List[int]", "Optional[int]",
          "Return the third smallest distinct value in nums, or None if nums has fewer than three distinct values.",
          """
          values = sorted(set(nums))
          if len(values) < 3:
              return None
          return values[2]
          """,
          [[3, 1, 4, 1, 2], [5, 6, 5], [], [-1, -2, -3], [7, 7, 8, 9]]),
        v("second_smallest_or_minus_one", "nums: List[int]", "int",
          "Return the second smallest distinct value in nums, or -1 if nums has fewer than two distinct values.",
          """
          values = sorted(set(nums))
          if len(values) < 2:
              return -1
          return values[1]
          """,
          [[8, 3, 5, 3], [2, 2], [], [0, -4]]),
        v("second_longest_length", "words: List[str]", "int",
          "Return the second largest distinct length among the strings of words, or 0 if there are fewer than two "
          "distinct lengths.",
          """
          lengths = sorted(set(len(w) for w in words))
          if len(lengths) < 2:
              return 0
          return lengths[-2]
          """,
          [["a", "abc", "ab", "abc"], ["hi", "yo"], [], ["", "xyz"]]),
    ),
    fam("find_index", 3,
        v("index_of", "nums: List[int], target: int", "int",
          "Return the index of the first element of nums equal to target, or -1 if there is none.",
          """
          for i, n in enumerate(nums):
              if n == target:
                  return i
          return -1
          """,
          [([4, 2, 7, 2], 2), ([1, 2], 5), ([], 1), ([9], 9)]),
        v("last_index_of", "nums: List[int], target: int", "int",
          "Return the index of the last element of nums equal to target, or -1 if there is none.",
          """
          for i in range(len(nums) - 1, -1, -1):
              if nums[i] == target:
                  return i
          return -1
          """,
          [([4, 2, 7, 2], 2), ([1, 2], 5), ([], 1), ([9, 3], 9)]),
        v("first_negative_index", "nums: List[int]", "int",
          "Return the index of the first number in nums that is less than 0, or -1 if there is none.",
          """
          for i, n in enumerate(nums):
              if n < 0:
                  return i
          return -1
          """,
          [[3, -1, -2], [1, 2], [], [-5]]),
        v("first_even_index", "nums: List[int]", "int",
          "Return the index of the first even number in nums, or -1 if there is none.",
          """
          for i, n in enumerate(nums):
              if n % 2 == 0:
                  return i
          return -1
          """,
          [[3, 5, 8, 10], [1, 3], [], [0]]),
        v("index_of_char", "s: str, c: str", "int",
          "Return the index of the first occurrence of the character c in s, or -1 if c does not occur in s.",
          """
          for i, ch in enumerate(s):
              if ch == c:
                  return i
          return -1
          """,
          [("hello", "l"), ("hello", "z"), ("", "a"), ("abc", "a")]),
        v("first_upper_index", "s: str", "int",
          "Return the index of the first upper-case letter in s, or -1 if s has none.",
          """
          for i, ch in enumerate(s):
              if ch.isupper():
                  return i
          return -1
          """,
          ["helloWorld", "hello", "", "Abc"]),
        v("index_of_max", "nums: List[int]", "int",
          "Return the index of the largest number in nums (the first one if it occurs more than once), or -1 if nums "
          "is empty.",
          """
          if not nums:
              return -1
          best = 0
          for i in range(1, len(nums)):
              if nums[i] > nums[best]:
                  best = i
          return best
          """,
          [[3, 9, 2, 9], [], [5], [-1, -3]]),
        v("index_of_min", "nums: List[int]", "int",
          "Return the index of the smallest number in nums (the first one if it occurs more than once), or -1 if "
          "nums is empty.",
          """
          if not nums:
              return -1
          best = 0
          for i in range(1, len(nums)):
              if nums[i] < nums[best]:
                  best = i
          return best
          """,
          [[3, 1, 2, 1], [], [5], [-1, -3]]),
    ),
    fam("product", 3,
        v("product", "nums: List[int]", "int",
          "Return the product of the numbers in nums. An empty list gives 1.",
          """
          result = 1
          for n in nums:
              result *= n
          return result
          """,
          [[2, 3, 4], [], [5], [-2, 0, 7], [-1, -3]]),
        v("product_of_evens", "nums: List[int]", "int",
          "Return the product of the even numbers in nums, or 1 if there are none.",
          """
          result = 1
          for n in nums:
              if n % 2 == 0:
                  result *= n
          return result
          """,
          [[1, 2, 3, 4], [], [1, 3], [-2, 6]]),
        v("product_of_nonzero", "nums: List[int]", "int",
          "Return the product of the numbers in nums that are not 0, or 1 if there are none.",
          """
          result = 1
          for n in nums:
              if n != 0:
                  result *= n
          return result
          """,
          [[2, 0, 3], [], [0, 0], [-1, 5]]),
        v("product_of_digits", "n: int", "int",
          "Return the product of the digits of n. n is never negative.",
          """
          result = 1
          for ch in str(n):
              result *= int(ch)
          return result
          """,
          [234, 7, 0, 105, 111]),
        v("product_of_positives", "values: List[int]", "int",
          "Return the product of the numbers in values that are greater than 0, or 1 if there are none.",
          """
          result = 1
          for x in values:
              if x > 0:
                  result *= x
          return result
          """,
          [[2, -3, 4], [], [-1, 0], [5]]),
        v("product_of_odds", "nums: List[int]", "int",
          "Return the product of the odd numbers in nums, or 1 if there are none.",
          """
          result = 1
          for n in nums:
              if n % 2 == 1:
                  result *= n
          return result
          """,
          [[1, 2, 3, 5], [], [2, 4], [-3, 7]]),
        v("product_of_first", "nums: List[int], k: int", "int",
          "Return the product of the first k numbers of nums (all of them if nums is shorter). k of 0 gives 1.",
          """
          result = 1
          for n in nums[:k]:
              result *= n
          return result
          """,
          [([2, 3, 4, 5], 3), ([1, 2], 0), ([], 2), ([7, 2], 5)]),
    ),
    fam("range_sums", 3,
        v("sum_to_n", "n: int", "int",
          "Return 1 + 2 + ... + n. If n is 0 or less, return 0.",
          """
          total = 0
          for i in range(1, n + 1):
              total += i
          return total
          """,
          [4, 1, 0, -3, 10]),
        v("factorial", "n: int", "int",
          "Return n factorial, 1 * 2 * ... * n. factorial(0) is 1. n is never negative.",
          """
          result = 1
          for i in range(2, n + 1):
              result *= i
          return result
          """,
          [5, 0, 1, 3, 10]),
        v("sum_of_squares_to", "n: int", "int",
          "Return 1*1 + 2*2 + ... + n*n. If n is 0 or less, return 0.",
          """
          total = 0
          for i in range(1, n + 1):
              total += i * i
          return total
          """,
          [3, 1, 0, 5]),
        v("sum_even_to", "n: int", "int",
          "Return the sum of the even numbers from 2 up to n, n included. If there are none, return 0.",
          """
          total = 0
          for i in range(2, n + 1, 2):
              total += i
          return total
          """,
          [6, 7, 1, 0, 2]),
        v("sum_odd_to", "n: int", "int",
          "Return the sum of the odd numbers from 1 up to n, n included. If there are none, return 0.",
          """
          total = 0
          for i in range(1, n + 1, 2):
              total += i
          return total
          """,
          [5, 6, 0, 1]),
        v("sum_multiples_of_three_below", "n: int", "int",
          "Return the sum of the positive multiples of 3 that are less than n. If there are none, return 0.",
          """
          total = 0
          for i in range(3, n, 3):
              total += i
          return total
          """,
          [10, 9, 3, 0, 4]),
        v("count_multiples_below", "n: int, k: int", "int",
          "Return how many positive integers less than n are divisible by k. k is at least 1.",
          """
          count = 0
          for i in range(1, n):
              if i % k == 0:
                  count += 1
          return count
          """,
          [(10, 3), (10, 5), (1, 1), (0, 2), (7, 1)]),
        v("sum_range", "a: int, b: int", "int",
          "Return a + (a + 1) + ... + b. If a is greater than b, return 0.",
          """
          total = 0
          for i in range(a, b + 1):
              total += i
          return total
          """,
          [(3, 5), (5, 5), (6, 2), (-2, 2)]),
    ),
    fam("digit_loop", 3,
        v("sum_of_digits", "n: int", "int",
          "Return the sum of the digits of n. n is never negative.",
          """
          total = 0
          for ch in str(n):
              total += int(ch)
          return total
          """,
          [123, 7, 0, 9999]),
        v("count_even_digits", "n: int", "int",
          "Return how many digits of n are even (0 counts as even). n is never negative.",
          """
          count = 0
          for ch in str(n):
              if int(ch) % 2 == 0:
                  count += 1
          return count
          """,
          [1234, 135, 0, 2468]),
        v("reverse_number", "n: int", "int",
          "Return the number whose digits are those of n in reverse order, so 120 gives 21. n is never negative.",
          """
          result = 0
          while n > 0:
              result = result * 10 + n % 10
              n //= 10
          return result
          """,
          [123, 120, 0, 7, 1001]),
        v("largest_digit", "n: int", "int",
          "Return the largest digit of n. n is never negative.",
          """
          best = 0
          for ch in str(n):
              best = max(best, int(ch))
          return best
          """,
          [1729, 5, 0, 4444]),
        v("count_digit", "n: int, d: int", "int",
          "Return how many times the digit d occurs in n. n is never negative and d is between 0 and 9.",
          """
          count = 0
          for ch in str(n):
              if int(ch) == d:
                  count += 1
          return count
          """,
          [(1211, 1), (1211, 5), (0, 0), (909, 9)]),
        v("digit_list", "n: int", "List[int]",
          "Return the digits of n as a list of integers, from left to right. n is never negative.",
          "return [int(ch) for ch in str(n)]",
          [123, 7, 0, 4050]),
        v("count_odd_digits", "n: int", "int",
          "Return how many digits of n are odd. n is never negative.",
          """
          count = 0
          for ch in str(n):
              if int(ch) % 2 == 1:
                  count += 1
          return count
          """,
          [1234, 2468, 0, 1357]),
        v("digit_sum_is_even", "n: int", "bool",
          "Return True if the sum of the digits of n is even, otherwise False. n is never negative.",
          """
          total = 0
          for ch in str(n):
              total += int(ch)
          return total % 2 == 0
          """,
          [123, 124, 0, 11]),
    ),
    fam("fizzbuzz", 3,
        v("fizz_buzz", "n: int", "str",
          "Return 'FizzBuzz' if n is divisible by both 3 and 5, 'Fizz' if it is divisible by 3 only, 'Buzz' if it is "
          "divisible by 5 only, and otherwise n written as a string.",
          """
          if n % 3 == 0 and n % 5 == 0:
              return "FizzBuzz"
          if n % 3 == 0:
              return "Fizz"
          if n % 5 == 0:
              return "Buzz"
          return str(n)
          """,
          [15, 9, 10, 7, 30]),
        v("foo_bar", "n: int", "str",
          "Return 'FooBar' if n is divisible by both 2 and 7, 'Foo' if it is divisible by 2 only, 'Bar' if it is "
          "divisible by 7 only, and otherwise n written as a string.",
          """
          if n % 2 == 0 and n % 7 == 0:
              return "FooBar"
          if n % 2 == 0:
              return "Foo"
          if n % 7 == 0:
              return "Bar"
          return str(n)
          """,
          [14, 4, 21, 5, 28]),
        v("ping_pong", "n: int", "str",
          "Return 'PingPong' if n is divisible by both 4 and 6, 'Ping' if it is divisible by 4 only, 'Pong' if it is "
          "divisible by 6 only, and otherwise n written as a string.",
          """
          if n % 4 == 0 and n % 6 == 0:
              return "PingPong"
          if n % 4 == 0:
              return "Ping"
          if n % 6 == 0:
              return "Pong"
          return str(n)
          """,
          [12, 8, 18, 5, 24]),
        v("hop_skip", "n: int", "str",
          "Return 'HopSkip' if n is divisible by both 3 and 7, 'Hop' if it is divisible by 3 only, 'Skip' if it is "
          "divisible by 7 only, and otherwise n written as a string.",
          """
          if n % 3 == 0 and n % 7 == 0:
              return "HopSkip"
          if n % 3 == 0:
              return "Hop"
          if n % 7 == 0:
              return "Skip"
          return str(n)
          """,
          [21, 6, 14, 4, 42]),
        v("tick_tock", "n: int", "str",
          "Return 'TickTock' if n is divisible by both 2 and 3, 'Tick' if it is divisible by 2 only, 'Tock' if it is "
          "divisible by 3 only, and otherwise n written as a string.",
          """
          if n % 2 == 0 and n % 3 == 0:
              return "TickTock"
          if n % 2 == 0:
              return "Tick"
          if n % 3 == 0:
              return "Tock"
          return str(n)
          """,
          [6, 4, 9, 5, 12]),
        v("zig_zag", "n: int", "str",
          "Return 'ZigZag' if n is divisible by both 5 and 7, 'Zig' if it is divisible by 5 only, 'Zag' if it is "
          "divisible by 7 only, and otherwise n written as a string.",
          """
          if n % 5 == 0 and n % 7 == 0:
              return "ZigZag"
          if n % 5 == 0:
              return "Zig"
          if n % 7 == 0:
              return "Zag"
          return str(n)
          """,
          [35, 10, 14, 3, 70]),
        v("red_blue", "n: int", "str",
          "Return 'RedBlue' if n is divisible by both 3 and 4, 'Red' if it is divisible by 3 only, 'Blue' if it is "
          "divisible by 4 only, and otherwise n written as a string.",
          """
          if n % 3 == 0 and n % 4 == 0:
              return "RedBlue"
          if n % 3 == 0:
              return "Red"
          if n % 4 == 0:
              return "Blue"
          return str(n)
          """,
          [12, 9, 8, 5, 24]),
    ),
    fam("classify", 3,
        v("sign_word", "n: int", "str",
          "Return 'positive' if n is greater than 0, 'negative' if it is less than 0, and 'zero' if it is 0.",
          """
          if n > 0:
              return "positive"
          if n < 0:
              return "negative"
          return "zero"
          """,
          [5, -3, 0]),
        v("letter_grade", "score: int", "str",
          "Return 'A' for a score of 90 or more, 'B' for 80 to 89, 'C' for 70 to 79 and 'F' below 70.",
          """
          if score >= 90:
              return "A"
          if score >= 80:
              return "B"
          if score >= 70:
              return "C"
          return "F"
          """,
          [95, 85, 70, 69, 90, 0]),
        v("temperature_label", "t: int", "str",
          "Return 'cold' if t is below 10, 'mild' if t is from 10 to 24, and 'hot' if t is 25 or more.",
          """
          if t < 10:
              return "cold"
          if t < 25:
              return "mild"
          return "hot"
          """,
          [5, 18, 30, 10, 25]),
        v("age_group", "age: int", "str",
          "Return 'child' if age is below 13, 'teen' if age is from 13 to 19, and 'adult' if age is 20 or more.",
          """
          if age < 13:
              return "child"
          if age < 20:
              return "teen"
          return "adult"
          """,
          [8, 15, 40, 13, 20, 19]),
        v("size_label", "n: int", "str",
          "Return 'small' if n is below 10, 'medium' if n is from 10 to 99, and 'large' if n is 100 or more.",
          """
          if n < 10:
              return "small"
          if n < 100:
              return "medium"
          return "large"
          """,
          [3, 50, 500, 10, 100]),
        v("compare_word", "a: int, b: int", "str",
          "Return 'less' if a is less than b, 'greater' if a is greater than b, and 'equal' if they are equal.",
          """
          if a < b:
              return "less"
          if a > b:
              return "greater"
          return "equal"
          """,
          [(1, 2), (5, 3), (4, 4), (-1, -2)]),
        v("triangle_type", "a: int, b: int, c: int", "str",
          "The numbers a, b and c are the side lengths of a triangle. Return 'equilateral' if all three are equal, "
          "'isosceles' if exactly two are equal, and 'scalene' if all three differ.",
          """
          if a == b == c:
              return "equilateral"
          if a == b or b == c or a == c:
              return "isosceles"
          return "scalene"
          """,
          [(3, 3, 3), (3, 4, 3), (3, 4, 5), (5, 5, 8), (2, 7, 7)]),
    ),
    fam("adjacent", 3,
        v("differences", "nums: List[int]", "List[int]",
          "Return the list of nums[i + 1] - nums[i] for each pair of neighbouring elements. A list with fewer than "
          "two elements gives [].",
          "return [nums[i + 1] - nums[i] for i in range(len(nums) - 1)]",
          [[1, 4, 9, 16], [], [5], [3, 3, 1]]),
        v("is_sorted", "nums: List[int]", "bool",
          "Return True if no element of nums is greater than the element after it, otherwise False. An empty list "
          "gives True.",
          """
          for i in range(len(nums) - 1):
              if nums[i] > nums[i + 1]:
                  return False
          return True
          """,
          [[1, 2, 2, 5], [3, 1, 2], [], [7]]),
        v("is_strictly_increasing", "nums: List[int]", "bool",
          "Return True if every element of nums is greater than the element before it, otherwise False. An empty "
          "list gives True.",
          """
          for i in range(len(nums) - 1):
              if nums[i] >= nums[i + 1]:
                  return False
          return True
          """,
          [[1, 2, 5], [1, 2, 2], [], [4]]),
        v("count_increases", "nums: List[int]", "int",
          "Return how many elements of nums are greater than the element just before them.",
          """
          count = 0
          for i in range(1, len(nums)):
              if nums[i] > nums[i - 1]:
                  count += 1
          return count
          """,
          [[1, 3, 2, 4, 4], [], [5], [3, 2, 1]]),
        v("count_equal_neighbours", "nums: List[int]", "int",
          "Return how many positions i have nums[i] equal to nums[i + 1].",
          """
          count = 0
          for i in range(len(nums) - 1):
              if nums[i] == nums[i + 1]:
                  count += 1
          return count
          """,
          [[1, 1, 2, 2, 2], [], [5], [1, 2, 1]]),
        v("pair_sums", "nums: List[int]", "List[int]",
          "Return the list of nums[i] + nums[i + 1] for each pair of neighbouring elements. A list with fewer than "
          "two elements gives [].",
          "return [nums[i] + nums[i + 1] for i in range(len(nums) - 1)]",
          [[1, 2, 3, 4], [], [5], [-1, 1]]),
        v("has_adjacent_duplicate", "nums: List[int]", "bool",
          "Return True if two neighbouring elements of nums are equal, otherwise False.",
          """
          for i in range(len(nums) - 1):
              if nums[i] == nums[i + 1]:
                  return True
          return False
          """,
          [[1, 2, 2, 3], [1, 2, 1], [], [4]]),
        v("is_sorted_descending", "nums: List[int]", "bool",
          "Return True if no element of nums is smaller than the element after it, otherwise False. An empty list "
          "gives True.",
          """
          for i in range(len(nums) - 1):
              if nums[i] < nums[i + 1]:
                  return False
          return True
          """,
          [[5, 3, 3, 1], [3, 1, 2], [], [7]]),
    ),
    fam("rotate", 3,
        v("rotate_left", "nums: List[int]", "List[int]",
          "Return nums with its first element moved to the end. An empty list gives [].",
          "return nums[1:] + nums[:1]",
          [[1, 2, 3, 4], [], [5], [1, 2]]),
        v("rotate_right", "nums: List[int]", "List[int]",
          "Return nums with its last element moved to the front. An empty list gives [].",
          "return nums[-1:] + nums[:-1]",
          [[1, 2, 3, 4], [], [5], [1, 2]]),
        v("rotate_left_by", "nums: List[int], k: int", "List[int]",
          "Return nums rotated k places to the left: the first k elements move to the end, in order. k may be larger "
          "than the length of nums. An empty list gives [].",
          """
          if not nums:
              return []
          k = k % len(nums)
          return nums[k:] + nums[:k]
          """,
          [([1, 2, 3, 4, 5], 2), ([], 3), ([1, 2, 3], 4), ([1, 2], 0)]),
        v("rotate_right_by", "nums: List[int], k: int", "List[int]",
          "Return nums rotated k places to the right: the last k elements move to the front, in order. k may be "
          "larger than the length of nums. An empty list gives [].",
          """
          if not nums:
              return []
          k = k % len(nums)
          return nums[len(nums) - k:] + nums[: len(nums) - k]
          """,
          [([1, 2, 3, 4, 5], 2), ([], 3), ([1, 2, 3], 4), ([1, 2], 0)]),
        v("rotate_string_left", "s: str, k: int", "str",
          "Return s rotated k places to the left: its first k characters move to the end. k may be larger than the "
          "length of s. An empty string gives ''.",
          """
          if not s:
              return ""
          k = k % len(s)
          return s[k:] + s[:k]
          """,
          [("abcdef", 2), ("", 3), ("abc", 4), ("ab", 0)]),
        v("swap_first_last", "nums: List[int]", "List[int]",
          "Return a copy of nums with its first and last elements swapped. A list of fewer than two elements is "
          "returned unchanged.",
          """
          if len(nums) < 2:
              return nums[:]
          return [nums[-1]] + nums[1:-1] + [nums[0]]
          """,
          [[1, 2, 3, 4], [], [5], [1, 2]]),
        v("rotate_string_right", "s: str, k: int", "str",
          "Return s rotated k places to the right: its last k characters move to the front. k may be larger than the "
          "length of s. An empty string gives ''.",
          """
          if not s:
              return ""
          k = k % len(s)
          return s[len(s) - k:] + s[: len(s) - k]
          """,
          [("abcdef", 2), ("", 3), ("abc", 4), ("ab", 0)]),
    ),
    fam("caesar", 3,
        v("shift_letters", "s: str, k: int", "str",
          "Shift each lower-case letter of s forward by k places in the alphabet, wrapping around from 'z' to 'a'. "
          "Other characters stay the same. k is between 0 and 25.",
          """
          result = ""
          for ch in s:
              if "a" <= ch <= "z":
                  ch = chr((ord(ch) - ord("a") + k) % 26 + ord("a"))
              result += ch
          return result
          """,
          [("abc", 1), ("xyz", 3), ("", 5), ("hi there!", 13)]),
        v("rot13", "s: str", "str",
          "Shift each lower-case letter of s forward by 13 places in the alphabet, wrapping around from 'z' to 'a'. "
          "Other characters stay the same.",
          """
          result = ""
          for ch in s:
              if "a" <= ch <= "z":
                  ch = chr((ord(ch) - ord("a") + 13) % 26 + ord("a"))
              result += ch
          return result
          """,
          ["hello", "uryyb", "", "a-z!"]),
        v("shift_by_one", "s: str", "str",
          "Replace each lower-case letter of s by the next letter of the alphabet, with 'z' becoming 'a'. Other "
          "characters stay the same.",
          """
          result = ""
          for ch in s:
              if "a" <= ch <= "z":
                  ch = chr((ord(ch) - ord("a") + 1) % 26 + ord("a"))
              result += ch
          return result
          """,
          ["abc", "zoo", "", "Hi 9"]),
        v("shift_back_one", "s: str", "str",
          "Replace each lower-case letter of s by the letter before it in the alphabet, with 'a' becoming 'z'. Other "
          "characters stay the same.",
          """
          result = ""
          for ch in s:
              if "a" <= ch <= "z":
                  ch = chr((ord(ch) - ord("a") - 1) % 26 + ord("a"))
              result += ch
          return result
          """,
          ["bcd", "apple", "", "Hi 9"]),
        v("shift_by_three", "text: str", "str",
          "Shift each lower-case letter of text forward by 3 places in the alphabet, wrapping around from 'z' to "
          "'a'. Other characters stay the same.",
          """
          result = ""
          for ch in text:
              if "a" <= ch <= "z":
                  ch = chr((ord(ch) - ord("a") + 3) % 26 + ord("a"))
              result += ch
          return result
          """,
          ["abc", "xyz", "", "Go home"]),
        v("unshift_three", "text: str", "str",
          "Shift each lower-case letter of text back by 3 places in the alphabet, wrapping around from 'a' to 'z'. "
          "Other characters stay the same.",
          """
          result = ""
          for ch in text:
              if "a" <= ch <= "z":
                  ch = chr((ord(ch) - ord("a") - 3) % 26 + ord("a"))
              result += ch
          return result
          """,
          ["def", "abc", "", "Jr krph"]),
        v("shift_upper", "s: str, k: int", "str",
          "Shift each upper-case letter of s forward by k places in the alphabet, wrapping around from 'Z' to 'A'. "
          "Other characters stay the same. k is between 0 and 25.",
          """
          result = ""
          for ch in s:
              if "A" <= ch <= "Z":
                  ch = chr((ord(ch) - ord("A") + k) % 26 + ord("A"))
              result += ch
          return result
          """,
          [("ABC", 1), ("XYZ", 2), ("", 4), ("Hi YOU", 1)]),
    ),
    fam("word_transform", 3,
        v("capitalize_words", "sentence: str", "str",
          "Return sentence with the first letter of every word in upper case and the rest of the word in lower case. "
          "Words are separated by single spaces.",
          'return " ".join(w.capitalize() for w in sentence.split(" "))',
          ["hello world", "", "PYTHON is fun", "a"]),
        v("acronym", "phrase: str", "str",
          "Return the first letters of the words of phrase, in upper case, joined together. Words are separated by "
          "spaces.",
          'return "".join(w[0].upper() for w in phrase.split())',
          ["portable network graphics", "", "Hello", "as soon as possible"]),
        v("reverse_each_word", "sentence: str", "str",
          "Return sentence with the letters of every word reversed, keeping the words in their order. Words are "
          "separated by single spaces.",
          'return " ".join(w[::-1] for w in sentence.split(" "))',
          ["hello world", "", "abc", "ab cd ef"]),
        v("sentence_word_lengths", "sentence: str", "List[int]",
          "Return the list of the lengths of the words of sentence, in order. Words are separated by spaces.",
          "return [len(w) for w in sentence.split()]",
          ["the quick fox", "", "hello", "a bb ccc"]),
        v("longest_word_in", "sentence: str", "str",
          "Return the longest word of sentence; if several are equally long, the first of them. Words are separated "
          "by spaces. A sentence without words gives ''.",
          """
          best = ""
          for w in sentence.split():
              if len(w) > len(best):
                  best = w
          return best
          """,
          ["the quick fox", "", "hi yo", "a bb ccc dd"]),
        v("last_letters", "sentence: str", "str",
          "Return the last letters of the words of sentence joined together. Words are separated by spaces.",
          'return "".join(w[-1] for w in sentence.split())',
          ["the quick fox", "", "hello", "a bb ccc"]),
        v("shorten_words", "sentence: str", "str",
          "Return sentence with every word cut to its first three letters, the words joined by single spaces. Words "
          "are separated by spaces.",
          'return " ".join(w[:3] for w in sentence.split())',
          ["international business machines", "", "a to the", "hello"]),
    ),
    fam("average", 3,
        v("average", "nums: List[int]", "float",
          "Return the average (mean) of nums, or 0.0 if nums is empty.",
          """
          if not nums:
              return 0.0
          return sum(nums) / len(nums)
          """,
          [[1, 2, 3, 4], [], [5], [-2, 2]]),
        v("average_rounded", "nums: List[int]", "float",
          "Return the average of nums rounded to 2 decimal places with round(), or 0.0 if nums is empty.",
          """
          if not nums:
              return 0.0
          return round(sum(nums) / len(nums), 2)
          """,
          [[1, 2, 2], [], [5], [1, 2]]),
        v("average_of_positives", "nums: List[int]", "float",
          "Return the average of the numbers in nums that are greater than 0, or 0.0 if there are none.",
          """
          positives = [n for n in nums if n > 0]
          if not positives:
              return 0.0
          return sum(positives) / len(positives)
          """,
          [[1, -2, 3], [], [-1, 0], [4, 4, -8]]),
        v("average_length", "words: List[str]", "float",
          "Return the average length of the strings in words, or 0.0 if words is empty.",
          """
          if not words:
              return 0.0
          return sum(len(w) for w in words) / len(words)
          """,
          [["a", "abc"], [], ["hello"], ["", "ab", "abcd", "ab"]]),
        v("integer_mean", "nums: List[int]", "int",
          "Return the sum of nums divided by the number of elements, rounded down with //, or 0 if nums is empty.",
          """
          if not nums:
              return 0
          return sum(nums) // len(nums)
          """,
          [[1, 2, 4], [], [5], [2, 3]]),
        v("mean_of_evens", "nums: List[int]", "float",
          "Return the average of the even numbers in nums, or 0.0 if there are none.",
          """
          evens = [n for n in nums if n % 2 == 0]
          if not evens:
              return 0.0
          return sum(evens) / len(evens)
          """,
          [[1, 2, 3, 4], [], [1, 3], [0, 6, 9]]),
    ),
    fam("min_max_pair", 3,
        v("min_and_max", "nums: List[int]", "Optional[Tuple[int, int]]",
          "Return the tuple (smallest, largest) of the numbers in nums, or None if nums is empty.",
          """
          if not nums:
              return None
          return (min(nums), max(nums))
          """,
          [[3, 1, 4, 1, 5], [], [7], [-2, -9]]),
        v("count_max", "nums: List[int]", "int",
          "Return how many times the largest number of nums occurs in nums, or 0 if nums is empty.",
          """
          if not nums:
              return 0
          return nums.count(max(nums))
          """,
          [[3, 5, 1, 5], [], [7], [2, 2, 2]]),
        v("count_min", "nums: List[int]", "int",
          "Return how many times the smallest number of nums occurs in nums, or 0 if nums is empty.",
          """
          if not nums:
              return 0
          return nums.count(min(nums))
          """,
          [[3, 1, 5, 1], [], [7], [-2, -2, 4]]),
        v("sum_of_min_and_max", "nums: List[int]", "int",
          "Return the smallest number of nums plus the largest one, or 0 if nums is empty.",
          """
          if not nums:
              return 0
          return min(nums) + max(nums)
          """,
          [[3, 1, 5, 2], [], [7], [-4, 1]]),
        v("max_minus_min", "values: List[int]", "int",
          "Return the largest number of values minus the smallest one, or 0 if values is empty.",
          """
          if not values:
              return 0
          return max(values) - min(values)
          """,
          [[3, 1, 5, 2], [], [7], [-4, 1]]),
        v("length_range", "words: List[str]", "Tuple[int, int]",
          "Return the tuple (length of the shortest string, length of the longest string) for words, or (0, 0) if "
          "words is empty.",
          """
          if not words:
              return (0, 0)
          lengths = [len(w) for w in words]
          return (min(lengths), max(lengths))
          """,
          [["a", "abc", "ab"], [], ["hello"], ["", "xy"]]),
    ),
    fam("index_sums", 3,
        v("sum_even_positions", "nums: List[int]", "int",
          "Return the sum of the elements of nums at positions 0, 2, 4, and so on.",
          """
          total = 0
          for i in range(0, len(nums), 2):
              total += nums[i]
          return total
          """,
          [[1, 2, 3, 4, 5], [], [7], [4, 100]]),
        v("sum_odd_positions", "nums: List[int]", "int",
          "Return the sum of the elements of nums at positions 1, 3, 5, and so on.",
          """
          total = 0
          for i in range(1, len(nums), 2):
              total += nums[i]
          return total
          """,
          [[1, 2, 3, 4, 5], [], [7], [4, 100]]),
        v("alternating_sum", "nums: List[int]", "int",
          "Return nums[0] - nums[1] + nums[2] - nums[3] + ... An empty list gives 0.",
          """
          total = 0
          for i, n in enumerate(nums):
              if i % 2 == 0:
                  total += n
              else:
                  total -= n
          return total
          """,
          [[5, 3, 2, 1], [], [7], [1, 10]]),
        v("index_weighted_sum", "nums: List[int]", "int",
          "Return the sum of i * nums[i] over all positions i of nums.",
          """
          total = 0
          for i, n in enumerate(nums):
              total += i * n
          return total
          """,
          [[5, 3, 2], [], [7], [1, 1, 1, 1]]),
        v("count_index_matches", "nums: List[int]", "int",
          "Return how many positions i of nums have nums[i] equal to i.",
          """
          count = 0
          for i, n in enumerate(nums):
              if n == i:
                  count += 1
          return count
          """,
          [[0, 5, 2, 3], [], [1], [0, 1, 2]]),
        v("max_at_even_positions", "nums: List[int]", "Optional[int]",
          "Return the largest of the elements of nums at positions 0, 2, 4, and so on, or None if nums is empty.",
          """
          best = None
          for i in range(0, len(nums), 2):
              if best is None or nums[i] > best:
                  best = nums[i]
          return best
          """,
          [[1, 9, 3, 9, 2], [], [7], [-5, 0, -3]]),
    ),
    fam("count_dict", 3,
        v("word_counts", "sentence: str", "Dict[str, int]",
          "Return a dict mapping each word of sentence to how many times it occurs. Words are separated by spaces.",
          """
          counts = {}
          for w in sentence.split():
              counts[w] = counts.get(w, 0) + 1
          return counts
          """,
          ["the cat and the hat", "", "hi", "a a a"], shown=1),
        v("char_counts", "s: str", "Dict[str, int]",
          "Return a dict mapping each character of s to how many times it occurs in s.",
          """
          counts = {}
          for ch in s:
              counts[ch] = counts.get(ch, 0) + 1
          return counts
          """,
          ["hello", "", "a", "abab"], shown=1),
        v("length_counts", "words: List[str]", "Dict[int, int]",
          "Return a dict mapping each string length that occurs in words to how many strings have that length.",
          """
          counts = {}
          for w in words:
              counts[len(w)] = counts.get(len(w), 0) + 1
          return counts
          """,
          [["a", "bb", "cc", "d"], [], ["hello"], ["", "x"]], shown=1),
        v("letter_counts", "s: str", "Dict[str, int]",
          "Return a dict mapping each letter of s, in lower case, to how many times it occurs in s in either case. "
          "Characters that are not letters are not counted.",
          """
          counts = {}
          for ch in s.lower():
              if ch.isalpha():
                  counts[ch] = counts.get(ch, 0) + 1
          return counts
          """,
          ["Hello!", "", "123", "AaB b"], shown=1),
        v("number_counts", "nums: List[int]", "Dict[int, int]",
          "Return a dict mapping each number in nums to how many times it occurs in nums.",
          """
          counts = {}
          for n in nums:
              counts[n] = counts.get(n, 0) + 1
          return counts
          """,
          [[1, 2, 1, 3, 1], [], [7], [-1, -1]], shown=1),
        v("parity_counts", "nums: List[int]", "Dict[str, int]",
          "Return a dict with two keys: 'even' maps to how many numbers of nums are even and 'odd' to how many are "
          "odd.",
          """
          counts = {"even": 0, "odd": 0}
          for n in nums:
              if n % 2 == 0:
                  counts["even"] += 1
              else:
                  counts["odd"] += 1
          return counts
          """,
          [[1, 2, 3, 4, 5], [], [0], [-3, 7]], shown=1),
        v("first_letter_counts", "words: List[str]", "Dict[str, int]",
          "Return a dict mapping each first character of the strings in words to how many strings start with it. No "
          "string is empty.",
          """
          counts = {}
          for w in words:
              counts[w[0]] = counts.get(w[0], 0) + 1
          return counts
          """,
          [["apple", "avocado", "banana"], [], ["kiwi"], ["Ab", "ab"]], shown=1),
    ),
]


# ---------------------------------------------------------------------------------------------------------------
# Tier 4: small algorithms.
# ---------------------------------------------------------------------------------------------------------------

TIER4 = [
    fam("dedupe", 4,
        v("dedupe", "nums: List[int]", "List[int]",
          "Return nums without repeated values: keep the first occurrence of each value, in the original order.",
          """
          seen = set()
          result = []
          for n in nums:
              if n not in seen:
                  seen.add(n)
                  result.append(n)
          return result
          """,
          [[1, 2, 1, 3, 2], [], [5, 5, 5], [3, 1, 2]]),
        v("dedupe_words", "words: List[str]", "List[str]",
          "Return words without repeated strings: keep the first occurrence of each string, in the original order.",
          """
          seen = set()
          result = []
          for w in words:
              if w not in seen:
                  seen.add(w)
                  result.append(w)
          return result
          """,
          [["a", "b", "a", "c"], [], ["x", "x"], ["hi", "Hi"]]),
        v("dedupe_ignore_case", "words: List[str]", "List[str]",
          "Return words without repeats, where strings that differ only in upper/lower case count as the same: keep "
          "the first spelling of each, in the original order.",
          """
          seen = set()
          result = []
          for w in words:
              if w.lower() not in seen:
                  seen.add(w.lower())
                  result.append(w)
          return result
          """,
          [["Hi", "hi", "Yo", "HI"], [], ["a", "A"], ["x", "y"]]),
        v("unique_chars", "s: str", "str",
          "Return s without repeated characters: keep the first occurrence of each character, in the original order.",
          """
          seen = set()
          result = ""
          for ch in s:
              if ch not in seen:
                  seen.add(ch)
                  result += ch
          return result
          """,
          ["banana", "", "aaaa", "abc"]),
        v("dedupe_keep_last", "nums: List[int]", "List[int]",
          "Return nums without repeated values, keeping only the last occurrence of each value, in the order those "
          "last occurrences appear.",
          """
          result = []
          for i, n in enumerate(nums):
              if n not in nums[i + 1:]:
                  result.append(n)
          return result
          """,
          [[1, 2, 1, 3, 2], [], [5, 5], [3, 1, 2]]),
        v("remove_consecutive_duplicates", "nums: List[int]", "List[int]",
          "Return nums with each run of equal neighbouring elements replaced by one element; values that come back "
          "later are kept.",
          """
          result = []
          for n in nums:
              if not result or result[-1] != n:
                  result.append(n)
          return result
          """,
          [[1, 1, 2, 2, 1], [], [4, 4, 4], [1, 2, 3]]),
        v("squeeze", "s: str", "str",
          "Return s with each run of equal neighbouring characters replaced by one character.",
          """
          result = ""
          for ch in s:
              if not result or result[-1] != ch:
                  result += ch
          return result
          """,
          ["aabbbca", "", "zzz", "abc"]),
        v("duplicates", "nums: List[int]", "List[int]",
          "Return the values that occur more than once in nums, each only once, in the order of their first "
          "occurrence.",
          """
          result = []
          for n in nums:
              if nums.count(n) > 1 and n not in result:
                  result.append(n)
          return result
          """,
          [[1, 2, 1, 3, 2, 1], [], [1, 2, 3], [4, 4]]),
    ),
    fam("run_length", 4,
        v("rle", "s: str", "str",
          "Run-length encode s: write each run of equal characters as the character followed by the length of the "
          "run.",
          """
          result = ""
          i = 0
          while i < len(s):
              j = i
              while j < len(s) and s[j] == s[i]:
                  j += 1
              result += s[i] + str(j - i)
              i = j
          return result
          """,
          ["aaabcc", "", "a", "aabbbbbbbbbb"]),
        v("rle_count_first", "s: str", "str",
          "Run-length encode s: write each run of equal characters as the length of the run followed by the "
          "character.",
          """
          result = ""
          i = 0
          while i < len(s):
              j = i
              while j < len(s) and s[j] == s[i]:
                  j += 1
              result += str(j - i) + s[i]
              i = j
          return result
          """,
          ["aaabcc", "", "z", "xxyx"]),
        v("rle_pairs", "s: str", "List[Tuple[str, int]]",
          "Return the runs of equal characters of s as a list of (character, length of the run) tuples.",
          """
          result = []
          for ch in s:
              if result and result[-1][0] == ch:
                  result[-1] = (ch, result[-1][1] + 1)
              else:
                  result.append((ch, 1))
          return result
          """,
          ["aaabcc", "", "x", "abba"], shown=1),
        v("compress", "s: str", "str",
          "Write each run of equal characters of s as the character followed by the length of the run, but leave out "
          "the length when it is 1.",
          """
          result = ""
          i = 0
          while i < len(s):
              j = i
              while j < len(s) and s[j] == s[i]:
                  j += 1
              result += s[i] + (str(j - i) if j - i > 1 else "")
              i = j
          return result
          """,
          ["aaabcc", "", "abc", "zzzz"]),
        v("rle_decode", "code: str", "str",
          "Decode a run-length code made of pairs of a character and a single digit 1-9: repeat each character that "
          "many times.",
          """
          result = ""
          for i in range(0, len(code), 2):
              result += code[i] * int(code[i + 1])
          return result
          """,
          ["a3b1c2", "", "x9", "z1y1"]),
        v("decode_pairs", "pairs: List[Tuple[str, int]]", "str",
          "Each pair of pairs is (character, count). Return the string made of each character repeated count times, "
          "in order.",
          """
          result = ""
          for ch, count in pairs:
              result += ch * count
          return result
          """,
          [[("a", 3), ("b", 1)], [], [("x", 0), ("y", 2)], [("z", 4)]]),
        v("run_lengths", "nums: List[int]", "List[int]",
          "Return the lengths of the runs of equal neighbouring elements of nums, in order.",
          """
          result = []
          for i, n in enumerate(nums):
              if i > 0 and nums[i - 1] == n:
                  result[-1] += 1
              else:
                  result.append(1)
          return result
          """,
          [[1, 1, 2, 3, 3, 3], [], [7], [4, 5, 4]]),
    ),
    fam("binary_search", 4,
        v("binary_search", "nums: List[int], target: int", "int",
          "nums is sorted in ascending order and has no repeated values. Return the index of target in nums, or -1 "
          "if target is not in nums.",
          """
          lo, hi = 0, len(nums) - 1
          while lo <= hi:
              mid = (lo + hi) // 2
              if nums[mid] == target:
                  return mid
              if nums[mid] < target:
                  lo = mid + 1
              else:
                  hi = mid - 1
          return -1
          """,
          [([1, 3, 5, 7, 9], 7), ([1, 3, 5], 4), ([], 1), ([2], 2), ([1, 3, 5, 7], 1)]),
        v("insert_position", "nums: List[int], x: int", "int",
          "nums is sorted in ascending order. Return the index at which x would be inserted to keep nums sorted, "
          "before any elements equal to x.",
          """
          lo, hi = 0, len(nums)
          while lo < hi:
              mid = (lo + hi) // 2
              if nums[mid] < x:
                  lo = mid + 1
              else:
                  hi = mid
          return lo
          """,
          [([1, 3, 5, 7], 4), ([1, 3, 3, 5], 3), ([], 2), ([1, 2], 9), ([4, 5], 0)]),
        v("first_at_least", "nums: List[int], x: int", "Optional[int]",
          "nums is sorted in ascending order. Return the smallest element of nums that is greater than or equal to "
          "x, or None if there is none.",
          """
          lo, hi = 0, len(nums)
          while lo < hi:
              mid = (lo + hi) // 2
              if nums[mid] < x:
                  lo = mid + 1
              else:
                  hi = mid
          return nums[lo] if lo < len(nums) else None
          """,
          [([1, 3, 5, 7], 4), ([1, 3, 5], 5), ([], 2), ([1, 2], 9)]),
        v("last_at_most", "nums: List[int], x: int", "Optional[int]",
          "nums is sorted in ascending order. Return the largest element of nums that is less than or equal to x, or "
          "None if there is none.",
          """
          lo, hi = 0, len(nums)
          while lo < hi:
              mid = (lo + hi) // 2
              if nums[mid] <= x:
                  lo = mid + 1
              else:
                  hi = mid
          return nums[lo - 1] if lo > 0 else None
          """,
          [([1, 3, 5, 7], 4), ([1, 3, 5], 5), ([], 2), ([4, 6], 1)]),
        v("count_not_above", "nums: List[int], x: int", "int",
          "nums is sorted in ascending order. Return how many elements of nums are less than or equal to x.",
          """
          lo, hi = 0, len(nums)
          while lo < hi:
              mid = (lo + hi) // 2
              if nums[mid] <= x:
                  lo = mid + 1
              else:
                  hi = mid
          return lo
          """,
          [([1, 3, 3, 5, 7], 3), ([1, 2], 0), ([], 2), ([1, 2], 9)]),
        v("contains_sorted", "nums: List[int], target: int", "bool",
          "nums is sorted in ascending order. Return True if target is an element of nums, otherwise False.",
          """
          lo, hi = 0, len(nums) - 1
          while lo <= hi:
              mid = (lo + hi) // 2
              if nums[mid] == target:
                  return True
              if nums[mid] < target:
                  lo = mid + 1
              else:
                  hi = mid - 1
          return False
          """,
          [([2, 4, 6, 8], 6), ([2, 4, 6], 5), ([], 1), ([3], 3)]),
        v("leftmost_index", "nums: List[int], target: int", "int",
          "nums is sorted in ascending order and may repeat values. Return the smallest index i with nums[i] equal "
          "to target, or -1 if target is not in nums.",
          """
          lo, hi = 0, len(nums)
          while lo < hi:
              mid = (lo + hi) // 2
              if nums[mid] < target:
                  lo = mid + 1
              else:
                  hi = mid
          return lo if lo < len(nums) and nums[lo] == target else -1
          """,
          [([1, 2, 2, 2, 3], 2), ([1, 3], 2), ([], 1), ([5, 5], 5), ([1, 2, 4], 4)]),
    ),
    fam("brackets", 4,
        v("is_balanced", "s: str", "bool",
          "s contains only the characters '(' and ')'. Return True if every '(' is closed by a later ')' and every "
          "')' closes an earlier '(', otherwise False.",
          """
          depth = 0
          for ch in s:
              if ch == "(":
                  depth += 1
              else:
                  depth -= 1
                  if depth < 0:
                      return False
          return depth == 0
          """,
          ["(())()", "())(", "", "(((", ")("]),
        v("balanced_brackets", "s: str", "bool",
          "s contains only the characters ()[]{}. Return True if every bracket is closed by the matching bracket in "
          "the right order, otherwise False.",
          """
          pairs = {")": "(", "]": "[", "}": "{"}
          stack = []
          for ch in s:
              if ch in "([{":
                  stack.append(ch)
              elif not stack or stack.pop() != pairs[ch]:
                  return False
          return not stack
          """,
          ["([]{})", "([)]", "", "((", "]"]),
        v("max_depth", "s: str", "int",
          "s is a balanced string of '(' and ')'. Return the largest number of brackets that are open at the same "
          "time.",
          """
          depth = 0
          best = 0
          for ch in s:
              if ch == "(":
                  depth += 1
                  best = max(best, depth)
              else:
                  depth -= 1
          return best
          """,
          ["(()(()))", "()()", "", "((()))"]),
        v("balanced_angles", "s: str", "bool",
          "s contains only the characters '<' and '>'. Return True if every '<' is closed by a later '>' and every "
          "'>' closes an earlier '<', otherwise False.",
          """
          depth = 0
          for ch in s:
              if ch == "<":
                  depth += 1
              else:
                  depth -= 1
                  if depth < 0:
                      return False
          return depth == 0
          """,
          ["<<>><>", "<>><", "", "<", "><"]),
        v("brackets_to_add", "s: str", "int",
          "s contains only the characters '(' and ')'. Return the smallest number of brackets that must be added to "
          "s to make it balanced.",
          """
          open_count = 0
          added = 0
          for ch in s:
              if ch == "(":
                  open_count += 1
              elif open_count > 0:
                  open_count -= 1
              else:
                  added += 1
          return added + open_count
          """,
          ["())", "(((", "", "()()", ")("]),
        v("balanced_square", "s: str", "bool",
          "s contains only the characters '[' and ']'. Return True if every '[' is closed by a later ']' and every "
          "']' closes an earlier '[', otherwise False.",
          """
          depth = 0
          for ch in s:
              if ch == "[":
                  depth += 1
              else:
                  depth -= 1
                  if depth < 0:
                      return False
          return depth == 0
          """,
          ["[[]][]", "[]][", "", "[[", "]["]),
        v("balanced_ignoring_text", "s: str", "bool",
          "Return True if the round and square brackets in s are balanced and correctly nested, otherwise False. All "
          "other characters are ignored.",
          """
          pairs = {")": "(", "]": "["}
          stack = []
          for ch in s:
              if ch in "([":
                  stack.append(ch)
              elif ch in ")]":
                  if not stack or stack.pop() != pairs[ch]:
                      return False
          return not stack
          """,
          ["f(a[1]) + (b)", "f(a[1)]", "", "no brackets", "(x"]),
    ),
    fam("merge_sorted", 4,
        v("merge_sorted", "a: List[int], b: List[int]", "List[int]",
          "a and b are sorted in ascending order. Return one list sorted in ascending order with all elements of a "
          "and b, duplicates included.",
          """
          result = []
          i = j = 0
          while i < len(a) and j < len(b):
              if a[i] <= b[j]:
                  result.append(a[i])
                  i += 1
              else:
                  result.append(b[j])
                  j += 1
          return result + a[i:] + b[j:]
          """,
          [([1, 4, 6], [2, 3, 7]), ([], [1, 2]), ([1, 1], [1]), ([], [])]),
        v("merge_descending", "a: List[int], b: List[int]", "List[int]",
          "a and b are sorted from largest to smallest. Return one list sorted from largest to smallest with all "
          "elements of a and b, duplicates included.",
          """
          result = []
          i = j = 0
          while i < len(a) and j < len(b):
              if a[i] >= b[j]:
                  result.append(a[i])
                  i += 1
              else:
                  result.append(b[j])
                  j += 1
          return result + a[i:] + b[j:]
          """,
          [([6, 4, 1], [7, 3, 2]), ([], [2, 1]), ([5], [5, 5]), ([], [])]),
        v("merge_unique", "a: List[int], b: List[int]", "List[int]",
          "Return the values that occur in a or in b (or both), each only once, sorted in ascending order.",
          """
          result = []
          for n in sorted(a + b):
              if not result or result[-1] != n:
                  result.append(n)
          return result
          """,
          [([1, 3, 5], [3, 4, 5]), ([], [2, 2]), ([1], [1]), ([], [])]),
        v("common_elements", "a: List[int], b: List[int]", "List[int]",
          "Return the values that occur in both a and b, each only once, sorted in ascending order.",
          """
          result = []
          for n in sorted(a):
              if n in b and n not in result:
                  result.append(n)
          return result
          """,
          [([1, 3, 5, 5], [5, 3, 4]), ([], [1]), ([1, 2], [3, 4]), ([2, 2], [2])]),
        v("only_in_first", "a: List[int], b: List[int]", "List[int]",
          "Return the elements of a that do not occur in b, in the order they appear in a.",
          """
          result = []
          for n in a:
              if n not in b:
                  result.append(n)
          return result
          """,
          [([1, 2, 3, 4], [2, 4]), ([], [1]), ([1, 1], []), ([5, 6], [5, 6])]),
        v("interleave", "a: List[int], b: List[int]", "List[int]",
          "Return a[0], b[0], a[1], b[1], and so on; when one list runs out, the rest of the other list follows.",
          """
          result = []
          for i in range(max(len(a), len(b))):
              if i < len(a):
                  result.append(a[i])
              if i < len(b):
                  result.append(b[i])
          return result
          """,
          [([1, 2, 3], [10, 20, 30]), ([1], [5, 6, 7]), ([], []), ([4, 5], [])]),
        v("merge_sorted_words", "a: List[str], b: List[str]", "List[str]",
          "a and b are sorted in alphabetical order. Return one list in alphabetical order with all strings of a and "
          "b, duplicates included.",
          """
          result = []
          i = j = 0
          while i < len(a) and j < len(b):
              if a[i] <= b[j]:
                  result.append(a[i])
                  i += 1
              else:
                  result.append(b[j])
                  j += 1
          return result + a[i:] + b[j:]
          """,
          [(["ant", "cat"], ["bee", "dog"]), ([], ["x"]), (["a"], ["a"]), (["b", "c"], ["a"])]),
    ),
    fam("gcd_lcm", 4,
        v("gcd", "a: int, b: int", "int",
          "Return the greatest common divisor of a and b. Both are 0 or more and they are not both 0.",
          """
          while b:
              a, b = b, a % b
          return a
          """,
          [(12, 18), (7, 5), (0, 9), (9, 0), (21, 14)]),
        v("lcm", "a: int, b: int", "int",
          "Return the least common multiple of a and b, the smallest positive number divisible by both. Both are at "
          "least 1.",
          """
          x, y = a, b
          while y:
              x, y = y, x % y
          return a * b // x
          """,
          [(4, 6), (3, 5), (1, 7), (6, 6), (2, 8)]),
        v("gcd_of_list", "nums: List[int]", "int",
          "Return the greatest common divisor of all numbers in nums. The numbers are positive and nums is never "
          "empty.",
          """
          result = 0
          for n in nums:
              a, b = result, n
              while b:
                  a, b = b, a % b
              result = a
          return result
          """,
          [[12, 18, 24], [7], [5, 10, 3], [8, 8]]),
        v("are_coprime", "a: int, b: int", "bool",
          "Return True if the only positive number dividing both a and b is 1, otherwise False. Both are at least 1.",
          """
          while b:
              a, b = b, a % b
          return a == 1
          """,
          [(8, 15), (6, 9), (1, 1), (7, 14)]),
        v("lcm_of_list", "nums: List[int]", "int",
          "Return the least common multiple of all numbers in nums. The numbers are positive and nums is never "
          "empty.",
          """
          result = 1
          for n in nums:
              a, b = result, n
              while b:
                  a, b = b, a % b
              result = result * n // a
          return result
          """,
          [[2, 3, 4], [7], [5, 10], [6, 4, 9]]),
        v("simplify_fraction", "num: int, den: int", "Tuple[int, int]",
          "Return the fraction num / den in lowest terms as a tuple (numerator, denominator). Both are positive.",
          """
          a, b = num, den
          while b:
              a, b = b, a % b
          return (num // a, den // a)
          """,
          [(6, 8), (3, 7), (5, 5), (10, 4)]),
        v("gcd_of_three", "a: int, b: int, c: int", "int",
          "Return the greatest common divisor of a, b and c. All three are positive.",
          """
          for n in (b, c):
              x, y = a, n
              while y:
                  x, y = y, x % y
              a = x
          return a
          """,
          [(12, 18, 30), (7, 14, 5), (4, 4, 4), (9, 6, 15)]),
    ),
    fam("matrix", 4,
        v("transpose", "matrix: List[List[int]]", "List[List[int]]",
          "Return the transpose of matrix: row i of the result is column i of matrix. All rows have the same length. "
          "An empty matrix gives [].",
          """
          if not matrix:
              return []
          return [[row[i] for row in matrix] for i in range(len(matrix[0]))]
          """,
          [[[1, 2, 3], [4, 5, 6]], [], [[7]], [[1, 2], [3, 4]]], shown=1),
        v("row_sums", "matrix: List[List[int]]", "List[int]",
          "Return the list of the sums of the rows of matrix.",
          "return [sum(row) for row in matrix]",
          [[[1, 2, 3], [4, 5, 6]], [], [[7]], [[], [1, -1]]]),
        v("column_sums", "matrix: List[List[int]]", "List[int]",
          "Return the list of the sums of the columns of matrix. All rows have the same length. An empty matrix "
          "gives [].",
          """
          if not matrix:
              return []
          return [sum(row[i] for row in matrix) for i in range(len(matrix[0]))]
          """,
          [[[1, 2, 3], [4, 5, 6]], [], [[7]], [[1], [2], [3]]]),
        v("diagonal", "matrix: List[List[int]]", "List[int]",
          "matrix is square. Return the elements matrix[0][0], matrix[1][1], and so on, as a list.",
          "return [matrix[i][i] for i in range(len(matrix))]",
          [[[1, 2], [3, 4]], [], [[7]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]]),
        v("diagonal_sum", "grid: List[List[int]]", "int",
          "grid is square. Return grid[0][0] + grid[1][1] + ... An empty grid gives 0.",
          "return sum(grid[i][i] for i in range(len(grid)))",
          [[[1, 2], [3, 4]], [], [[7]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]]),
        v("anti_diagonal", "matrix: List[List[int]]", "List[int]",
          "matrix is square with n rows. Return the elements matrix[0][n - 1], matrix[1][n - 2], ..., matrix[n - "
          "1][0], as a list.",
          """
          n = len(matrix)
          return [matrix[i][n - 1 - i] for i in range(n)]
          """,
          [[[1, 2], [3, 4]], [], [[7]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]]),
        v("row_maxes", "matrix: List[List[int]]", "List[int]",
          "Return the list of the largest element of each row of matrix. No row is empty.",
          "return [max(row) for row in matrix]",
          [[[1, 5, 3], [4, 2, 6]], [], [[7]], [[-1, -2], [0]]]),
    ),
    fam("primes", 4,
        v("is_prime", "n: int", "bool",
          "Return True if n is a prime number (a number greater than 1 divisible only by 1 and itself), otherwise "
          "False.",
          """
          if n < 2:
              return False
          i = 2
          while i * i <= n:
              if n % i == 0:
                  return False
              i += 1
          return True
          """,
          [7, 9, 1, 2, 0, 97]),
        v("count_primes_up_to", "n: int", "int",
          "Return how many prime numbers are less than or equal to n.",
          """
          count = 0
          for m in range(2, n + 1):
              if all(m % d != 0 for d in range(2, m)):
                  count += 1
          return count
          """,
          [10, 2, 1, 0, 30]),
        v("primes_below", "n: int", "List[int]",
          "Return the list of the prime numbers less than n, in increasing order.",
          """
          result = []
          for m in range(2, n):
              if all(m % p != 0 for p in result):
                  result.append(m)
          return result
          """,
          [10, 2, 0, 3, 20]),
        v("next_prime", "n: int", "int",
          "Return the smallest prime number that is greater than n.",
          """
          m = n + 1
          while m < 2 or any(m % d == 0 for d in range(2, m)):
              m += 1
          return m
          """,
          [7, 10, 0, 1, 13]),
        v("smallest_factor", "n: int", "int",
          "Return the smallest divisor of n that is greater than 1. n is at least 2.",
          """
          d = 2
          while n % d != 0:
              d += 1
          return d
          """,
          [15, 7, 2, 49, 100]),
        v("prime_factors", "n: int", "List[int]",
          "Return the prime factors of n in increasing order, each repeated as often as it divides n. n is at least "
          "1; 1 gives [].",
          """
          result = []
          d = 2
          while n > 1:
              while n % d == 0:
                  result.append(d)
                  n //= d
              d += 1
          return result
          """,
          [12, 7, 1, 100, 2]),
        v("sum_primes_up_to", "n: int", "int",
          "Return the sum of the prime numbers less than or equal to n.",
          """
          total = 0
          for m in range(2, n + 1):
              if all(m % d != 0 for d in range(2, m)):
                  total += m
          return total
          """,
          [10, 2, 1, 0, 13]),
    ),
    fam("fibonacci", 4,
        v("fib", "n: int", "int",
          "Return the n-th Fibonacci number, where fib(0) is 0, fib(1) is 1 and each next number is the sum of the "
          "two before it. n is never negative.",
          """
          a, b = 0, 1
          for _ in range(n):
              a, b = b, a + b
          return a
          """,
          [6, 0, 1, 2, 10]),
        v("fib_list", "n: int", "List[int]",
          "Return the first n Fibonacci numbers 0, 1, 1, 2, 3, 5, ... as a list. n of 0 gives [].",
          """
          result = []
          a, b = 0, 1
          for _ in range(n):
              result.append(a)
              a, b = b, a + b
          return result
          """,
          [6, 0, 1, 2]),
        v("lucas", "n: int", "int",
          "Return the n-th Lucas number, where lucas(0) is 2, lucas(1) is 1 and each next number is the sum of the "
          "two before it. n is never negative.",
          """
          a, b = 2, 1
          for _ in range(n):
              a, b = b, a + b
          return a
          """,
          [5, 0, 1, 2, 8]),
        v("fib_sum", "n: int", "int",
          "Return the sum of the first n Fibonacci numbers 0, 1, 1, 2, 3, 5, ... n of 0 gives 0.",
          """
          total = 0
          a, b = 0, 1
          for _ in range(n):
              total += a
              a, b = b, a + b
          return total
          """,
          [5, 0, 1, 7]),
        v("tribonacci", "n: int", "int",
          "Return the n-th Tribonacci number, where the first three (n = 0, 1, 2) are 0, 0 and 1 and each next "
          "number is the sum of the three before it. n is never negative.",
          """
          a, b, c = 0, 0, 1
          for _ in range(n):
              a, b, c = b, c, a + b + c
          return a
          """,
          [4, 0, 2, 3, 7]),
        v("even_fib_sum", "limit: int", "int",
          "Return the sum of the even numbers of the Fibonacci sequence 0, 1, 1, 2, 3, 5, 8, ... that are not "
          "greater than limit.",
          """
          total = 0
          a, b = 0, 1
          while a <= limit:
              if a % 2 == 0:
                  total += a
              a, b = b, a + b
          return total
          """,
          [10, 1, 0, 34, 100]),
        v("fib_from", "a: int, b: int, n: int", "int",
          "A sequence starts with a and b and each next number is the sum of the two before it. Return the number at "
          "position n, where a is at position 0.",
          """
          for _ in range(n):
              a, b = b, a + b
          return a
          """,
          [(3, 4, 2), (5, 1, 0), (1, 1, 5), (2, 0, 3)]),
    ),
    fam("frequency", 4,
        v("most_common", "nums: List[int]", "int",
          "Return the value that occurs most often in nums. If several tie, return the one whose first occurrence "
          "comes first. nums is never empty.",
          """
          best = nums[0]
          for n in nums:
              if nums.count(n) > nums.count(best):
                  best = n
          return best
          """,
          [[1, 3, 3, 2, 1, 3], [4, 5, 5, 4], [7], [2, 1, 1]]),
        v("most_common_char", "s: str", "str",
          "Return the character that occurs most often in s. If several tie, return the one that appears first in s. "
          "s is never empty.",
          """
          best = s[0]
          for ch in s:
              if s.count(ch) > s.count(best):
                  best = ch
          return best
          """,
          ["banana", "abab", "z", "hello"]),
        v("least_common", "nums: List[int]", "int",
          "Return the value that occurs least often in nums. If several tie, return the one whose first occurrence "
          "comes first. nums is never empty.",
          """
          best = nums[0]
          for n in nums:
              if nums.count(n) < nums.count(best):
                  best = n
          return best
          """,
          [[1, 3, 3, 2, 1, 3], [4, 5, 5, 4], [7], [1, 1, 2]]),
        v("most_common_word", "sentence: str", "str",
          "Return the word that occurs most often in sentence. If several tie, return the one that appears first. "
          "Words are separated by spaces and there is at least one word.",
          """
          words = sentence.split()
          best = words[0]
          for w in words:
              if words.count(w) > words.count(best):
                  best = w
          return best
          """,
          ["the cat saw the dog", "a b b a", "hi", "x y z z"]),
        v("count_of_most_common", "nums: List[int]", "int",
          "Return how many times the most frequent value of nums occurs. An empty list gives 0.",
          """
          best = 0
          for n in nums:
              best = max(best, nums.count(n))
          return best
          """,
          [[1, 3, 3, 2, 3], [], [7], [4, 4, 5, 5]]),
        v("mode_smallest", "nums: List[int]", "int",
          "Return the value that occurs most often in nums. If several tie, return the smallest of them. nums is "
          "never empty.",
          """
          best = nums[0]
          for n in nums:
              if nums.count(n) > nums.count(best) or (nums.count(n) == nums.count(best) and n < best):
                  best = n
          return best
          """,
          [[3, 1, 3, 1, 2], [5, 4], [7], [9, 9, 2]]),
    ),
    fam("first_unique", 4,
        v("first_unique_char", "s: str", "str",
          "Return the first character of s that occurs only once in s, or '' if there is none.",
          """
          for ch in s:
              if s.count(ch) == 1:
                  return ch
          return ""
          """,
          ["swiss", "aabb", "", "abc"]),
        v("first_repeated_char", "s: str", "str",
          "Read s from left to right and return the first character that has already been seen before, or '' if no "
          "character repeats.",
          """
          seen = set()
          for ch in s:
              if ch in seen:
                  return ch
              seen.add(ch)
          return ""
          """,
          ["abcbad", "abc", "", "aa"]),
        v("first_unique_number", "nums: List[int]", "Optional[int]",
          "Return the first element of nums that occurs only once in nums, or None if there is none.",
          """
          for n in nums:
              if nums.count(n) == 1:
                  return n
          return None
          """,
          [[4, 5, 4, 6, 5], [1, 1], [], [9]]),
        v("first_repeated_number", "nums: List[int]", "Optional[int]",
          "Read nums from left to right and return the first element that has already been seen before, or None if "
          "no value repeats.",
          """
          seen = set()
          for n in nums:
              if n in seen:
                  return n
              seen.add(n)
          return None
          """,
          [[3, 1, 4, 1, 3], [1, 2], [], [7, 7]]),
        v("count_unique", "nums: List[int]", "int",
          "Return how many values occur exactly once in nums.",
          "return sum(1 for n in nums if nums.count(n) == 1)",
          [[1, 2, 2, 3, 4, 4], [], [5, 5], [1, 2, 3]]),
        v("sum_of_unique", "nums: List[int]", "int",
          "Return the sum of the values that occur exactly once in nums.",
          "return sum(n for n in nums if nums.count(n) == 1)",
          [[1, 2, 2, 3, 4, 4], [], [5, 5], [10]]),
        v("unique_only", "nums: List[int]", "List[int]",
          "Return the elements of nums that occur exactly once in nums, in their original order.",
          "return [n for n in nums if nums.count(n) == 1]",
          [[1, 2, 2, 3, 4, 4], [], [5, 5], [1, 2]]),
    ),
    fam("longest_run", 4,
        v("longest_run", "s: str", "int",
          "Return the length of the longest run of equal neighbouring characters in s. An empty string gives 0.",
          """
          best = current = 0
          for i, ch in enumerate(s):
              current = current + 1 if i > 0 and s[i - 1] == ch else 1
              best = max(best, current)
          return best
          """,
          ["aabbbc", "", "abc", "zzzz"]),
        v("longest_run_of", "nums: List[int], x: int", "int",
          "Return the length of the longest run of neighbouring elements of nums that are all equal to x.",
          """
          best = current = 0
          for n in nums:
              current = current + 1 if n == x else 0
              best = max(best, current)
          return best
          """,
          [([1, 1, 2, 1, 1, 1], 1), ([], 3), ([2, 2], 5), ([4, 4, 4], 4)]),
        v("longest_increasing_run", "nums: List[int]", "int",
          "Return the length of the longest run of neighbouring elements of nums in which each element is greater "
          "than the one before it. An empty list gives 0.",
          """
          best = current = 0
          for i, n in enumerate(nums):
              current = current + 1 if i > 0 and n > nums[i - 1] else 1
              best = max(best, current)
          return best
          """,
          [[1, 2, 0, 3, 4, 5], [], [5, 5], [3, 2, 1]]),
        v("longest_zero_run", "nums: List[int]", "int",
          "Return the length of the longest run of neighbouring zeros in nums.",
          """
          best = current = 0
          for n in nums:
              current = current + 1 if n == 0 else 0
              best = max(best, current)
          return best
          """,
          [[0, 1, 0, 0, 2], [], [1, 2], [0, 0, 0]]),
        v("longest_digit_run", "s: str", "int",
          "Return the length of the longest run of neighbouring characters of s that are all digits.",
          """
          best = current = 0
          for ch in s:
              current = current + 1 if ch.isdigit() else 0
              best = max(best, current)
          return best
          """,
          ["ab12c345", "", "abc", "2024"]),
        v("longest_equal_run", "nums: List[int]", "int",
          "Return the length of the longest run of equal neighbouring elements in nums. An empty list gives 0.",
          """
          best = current = 0
          for i, n in enumerate(nums):
              current = current + 1 if i > 0 and nums[i - 1] == n else 1
              best = max(best, current)
          return best
          """,
          [[1, 2, 2, 2, 3, 3], [], [7], [4, 5, 4]]),
        v("longest_vowel_run", "s: str", "int",
          "Return the length of the longest run of neighbouring characters of s that are all lower-case vowels a, e, "
          "i, o or u.",
          """
          best = current = 0
          for ch in s:
              current = current + 1 if ch in "aeiou" else 0
              best = max(best, current)
          return best
          """,
          ["beautiful", "", "rhythm", "queue"]),
    ),
    fam("chunks", 4,
        v("chunk", "nums: List[int], k: int", "List[List[int]]",
          "Split nums into consecutive groups of k elements; the last group may be shorter. k is at least 1.",
          "return [nums[i : i + k] for i in range(0, len(nums), k)]",
          [([1, 2, 3, 4, 5], 2), ([], 3), ([1, 2], 5), ([1, 2, 3], 1)]),
        v("pairs", "nums: List[int]", "List[List[int]]",
          "Split nums into consecutive groups of two elements; if the length is odd, the last group has one element.",
          "return [nums[i : i + 2] for i in range(0, len(nums), 2)]",
          [[1, 2, 3, 4, 5], [], [7], [1, 2]]),
        v("chunk_string", "s: str, k: int", "List[str]",
          "Split s into consecutive pieces of k characters; the last piece may be shorter. k is at least 1.",
          "return [s[i : i + k] for i in range(0, len(s), k)]",
          [("abcdefg", 3), ("", 2), ("ab", 5), ("abcd", 2)]),
        v("flatten", "lists: List[List[int]]", "List[int]",
          "Return one list with the elements of all the lists in lists, in order.",
          """
          result = []
          for part in lists:
              result.extend(part)
          return result
          """,
          [[[1, 2], [3], [4, 5]], [], [[], [6]], [[1], [1]]]),
        v("chunk_sums", "nums: List[int], k: int", "List[int]",
          "Split nums into consecutive groups of k elements (the last group may be shorter) and return the sum of "
          "each group. k is at least 1.",
          "return [sum(nums[i : i + k]) for i in range(0, len(nums), k)]",
          [([1, 2, 3, 4, 5], 2), ([], 3), ([4, 5], 5), ([1, 2, 3], 1)]),
        v("windows", "nums: List[int], k: int", "List[List[int]]",
          "Return every run of k neighbouring elements of nums, from left to right. If nums has fewer than k "
          "elements, return []. k is at least 1.",
          "return [nums[i : i + k] for i in range(len(nums) - k + 1)]",
          [([1, 2, 3, 4], 2), ([], 1), ([1, 2], 3), ([5, 6], 2)]),
        v("reverse_chunks", "nums: List[int], k: int", "List[int]",
          "Split nums into consecutive groups of k elements (the last group may be shorter), reverse each group and "
          "join the groups back together in order. k is at least 1.",
          """
          result = []
          for i in range(0, len(nums), k):
              result.extend(nums[i : i + k][::-1])
          return result
          """,
          [([1, 2, 3, 4, 5], 2), ([], 3), ([1, 2, 3], 5), ([1, 2, 3], 1)]),
    ),
    fam("base_conversion", 4,
        v("to_binary", "n: int", "str",
          "Return n written in base 2 as a string of 0s and 1s, without any prefix. n is never negative; 0 gives "
          "'0'.",
          """
          if n == 0:
              return "0"
          digits = ""
          while n > 0:
              digits = str(n % 2) + digits
              n //= 2
          return digits
          """,
          [5, 0, 1, 8, 255]),
        v("from_binary", "bits: str", "int",
          "bits is a non-empty string of 0s and 1s. Return the number it represents in base 2.",
          """
          result = 0
          for b in bits:
              result = result * 2 + int(b)
          return result
          """,
          ["101", "0", "1", "11111111", "1000"]),
        v("to_base", "n: int, base: int", "str",
          "Return n written in the given base as a string of digits. base is between 2 and 10 and n is never "
          "negative; 0 gives '0'.",
          """
          if n == 0:
              return "0"
          digits = ""
          while n > 0:
              digits = str(n % base) + digits
              n //= base
          return digits
          """,
          [(10, 3), (0, 7), (8, 8), (255, 2), (5, 10)]),
        v("count_one_bits", "n: int", "int",
          "Return how many 1s there are when n is written in base 2. n is never negative.",
          """
          count = 0
          while n > 0:
              count += n % 2
              n //= 2
          return count
          """,
          [5, 0, 1, 255, 16]),
        v("to_octal", "n: int", "str",
          "Return n written in base 8 as a string of digits, without any prefix. n is never negative; 0 gives '0'.",
          """
          if n == 0:
              return "0"
          digits = ""
          while n > 0:
              digits = str(n % 8) + digits
              n //= 8
          return digits
          """,
          [8, 0, 7, 64, 100]),
        v("digits_in_base", "n: int, base: int", "List[int]",
          "Return the digits of n written in the given base, most significant first, as a list of integers. base is "
          "at least 2 and n is never negative; 0 gives [0].",
          """
          if n == 0:
              return [0]
          digits = []
          while n > 0:
              digits.insert(0, n % base)
              n //= base
          return digits
          """,
          [(10, 2), (0, 5), (255, 16), (7, 8)]),
        v("to_hex", "n: int", "str",
          "Return n written in base 16 with the digits 0-9 and the lower-case letters a-f, without any prefix. n is "
          "never negative; 0 gives '0'.",
          """
          if n == 0:
              return "0"
          digits = ""
          while n > 0:
              digits = "0123456789abcdef"[n % 16] + digits
              n //= 16
          return digits
          """,
          [255, 0, 10, 16, 4096]),
    ),
    fam("pair_sum", 4,
        v("two_sum", "nums: List[int], target: int", "Optional[Tuple[int, int]]",
          "Return a tuple (i, j) with i < j and nums[i] + nums[j] == target, choosing the smallest such i and then "
          "the smallest j, or None if there is no such pair.",
          """
          for i in range(len(nums)):
              for j in range(i + 1, len(nums)):
                  if nums[i] + nums[j] == target:
                      return (i, j)
          return None
          """,
          [([2, 7, 11, 15], 9), ([1, 2, 3], 7), ([], 0), ([3, 3, 4], 6), ([1, 5, 2, 4], 6)]),
        v("has_pair_with_sum", "nums: List[int], target: int", "bool",
          "Return True if two elements of nums at different positions add up to target, otherwise False.",
          """
          for i in range(len(nums)):
              for j in range(i + 1, len(nums)):
                  if nums[i] + nums[j] == target:
                      return True
          return False
          """,
          [([1, 4, 6], 10), ([1, 2, 3], 7), ([], 0), ([5], 10), ([5, 5], 10)]),
        v("count_pairs_with_sum", "nums: List[int], target: int", "int",
          "Return how many pairs of positions i < j have nums[i] + nums[j] == target.",
          """
          count = 0
          for i in range(len(nums)):
              for j in range(i + 1, len(nums)):
                  if nums[i] + nums[j] == target:
                      count += 1
          return count
          """,
          [([1, 2, 3, 4], 5), ([1, 1], 3), ([], 0), ([2, 2, 2], 4)]),
        v("has_pair_with_difference", "nums: List[int], k: int", "bool",
          "Return True if two elements of nums at different positions differ by exactly k, otherwise False. k is "
          "never negative.",
          """
          for i in range(len(nums)):
              for j in range(len(nums)):
                  if i != j and nums[i] - nums[j] == k:
                      return True
          return False
          """,
          [([1, 5, 9], 4), ([1, 2], 5), ([], 0), ([3], 0), ([7, 7], 0)]),
        v("count_equal_pairs", "nums: List[int]", "int",
          "Return how many pairs of positions i < j have nums[i] == nums[j].",
          """
          count = 0
          for i in range(len(nums)):
              for j in range(i + 1, len(nums)):
                  if nums[i] == nums[j]:
                      count += 1
          return count
          """,
          [[1, 2, 1, 1], [], [1, 2, 3], [5, 5]]),
        v("max_pair_sum", "nums: List[int]", "int",
          "Return the largest sum of two elements of nums at different positions. nums has at least two elements.",
          """
          best = nums[0] + nums[1]
          for i in range(len(nums)):
              for j in range(i + 1, len(nums)):
                  best = max(best, nums[i] + nums[j])
          return best
          """,
          [[1, 5, 3, 4], [2, 2], [-5, -1, -3], [0, 9]]),
        v("max_pair_product", "nums: List[int]", "int",
          "Return the largest product of two elements of nums at different positions. nums has at least two "
          "elements.",
          """
          best = nums[0] * nums[1]
          for i in range(len(nums)):
              for j in range(i + 1, len(nums)):
                  best = max(best, nums[i] * nums[j])
          return best
          """,
          [[1, 5, 3, 4], [-10, -3, 2], [2, 3], [0, -1]]),
    ),
    fam("window", 4,
        v("max_window_sum", "nums: List[int], k: int", "int",
          "Return the largest sum of k neighbouring elements of nums. k is between 1 and len(nums).",
          """
          best = sum(nums[:k])
          for i in range(1, len(nums) - k + 1):
              best = max(best, sum(nums[i : i + k]))
          return best
          """,
          [([1, 4, 2, 10, 2], 2), ([5], 1), ([-3, -1, -2], 1), ([1, 2, 3], 3)]),
        v("min_window_sum", "nums: List[int], k: int", "int",
          "Return the smallest sum of k neighbouring elements of nums. k is between 1 and len(nums).",
          """
          best = sum(nums[:k])
          for i in range(1, len(nums) - k + 1):
              best = min(best, sum(nums[i : i + k]))
          return best
          """,
          [([4, 1, 2, 10, 0], 2), ([5], 1), ([3, -1, 2], 1), ([1, 2, 3], 3)]),
        v("moving_sums", "nums: List[int], k: int", "List[int]",
          "Return the sums of every run of k neighbouring elements of nums, from left to right. If nums has fewer "
          "than k elements, return []. k is at least 1.",
          "return [sum(nums[i : i + k]) for i in range(len(nums) - k + 1)]",
          [([1, 2, 3, 4], 2), ([], 1), ([1, 2], 3), ([5, 5, 5], 3)]),
        v("max_sum_of_three", "nums: List[int]", "int",
          "Return the largest sum of three neighbouring elements of nums. nums has at least three elements.",
          """
          best = sum(nums[:3])
          for i in range(1, len(nums) - 2):
              best = max(best, sum(nums[i : i + 3]))
          return best
          """,
          [[1, 2, 3, 4, 5], [1, 1, 1], [-1, -2, -3, -4], [5, 0, 0, 5, 1, 1]]),
        v("max_adjacent_sum", "nums: List[int]", "int",
          "Return the largest sum of two neighbouring elements of nums. nums has at least two elements.",
          """
          best = nums[0] + nums[1]
          for i in range(1, len(nums) - 1):
              best = max(best, nums[i] + nums[i + 1])
          return best
          """,
          [[1, 5, 3, 4], [2, 2], [-5, -1, -3], [9, 0, 8]]),
        v("count_windows_above", "nums: List[int], k: int, limit: int", "int",
          "Return how many runs of k neighbouring elements of nums have a sum greater than limit. k is at least 1.",
          """
          count = 0
          for i in range(len(nums) - k + 1):
              if sum(nums[i : i + k]) > limit:
                  count += 1
          return count
          """,
          [([1, 2, 3, 4], 2, 4), ([], 1, 0), ([1, 1], 3, 0), ([5, 5, 5], 1, 4)]),
        v("best_window_start", "nums: List[int], k: int", "int",
          "Return the index where the run of k neighbouring elements with the largest sum starts; if several tie, "
          "the smallest such index. k is between 1 and len(nums).",
          """
          best = 0
          for i in range(1, len(nums) - k + 1):
              if sum(nums[i : i + k]) > sum(nums[best : best + k]):
                  best = i
          return best
          """,
          [([1, 4, 2, 10, 2], 2), ([5], 1), ([3, 3, 3], 2), ([1, 2, 3], 3), ([0, 9, 1], 1)]),
    ),
]

# fmt: on

FAMILIES: list[Family] = TIER1 + TIER2 + TIER3 + TIER4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m environments.code.graded", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"(re)write {SUITE_FILE.name}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 if {SUITE_FILE.name} is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        SUITE_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {SUITE_FILE} ({text.count(chr(10))} tasks)")
        return 0
    if args.check:
        current = SUITE_FILE.read_text(encoding="utf-8") if SUITE_FILE.is_file() else None
        if current != text:
            print(f"{SUITE_FILE} is stale; run: python -m environments.code.graded --write", file=sys.stderr)
            return 1
        print(f"{SUITE_FILE} is up to date")
        return 0
    rows = build()
    print(f"{len(rows)} tasks in {len(FAMILIES)} families")
    for tier in (1, 2, 3, 4):
        counts = {s: sum(r["tier"] == tier and r["split"] == s for r in rows) for s in ("train", "test")}
        print(f"tier {tier}: {counts['train']} train, {counts['test']} test")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
