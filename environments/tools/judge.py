"""Judging an episode: the final world against the expected one, and the final answer's required phrases.

Names and titles compare ignoring case and spacing. A message body or file content the task checks by phrases
(`text_checks`, keyed `message:<email>` or `file:<path>`) only has to contain them. A phrase is found as whole
words, ignoring case; a number phrase matches a number in the text at the phrase's precision (`12.5` = `12.50`,
`6.21` = `6.2137`, `68000000` = `68,000,000`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from environments.tools.world import Event, World

_NUMBER = re.compile(r"^-?\d+(?:\.(\d+))?$")
_NUMBERS_IN_TEXT = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2212": "-"})


def norm(text: str) -> str:
    """Lowercase, straight quotes, single spaces, no surrounding quotes or final punctuation."""
    return " ".join(text.translate(_QUOTES).casefold().split()).strip(" '\"").rstrip(".!?")


def contains(text: str, phrase: str) -> bool:
    """Whether `phrase` is in `text` (see the module's rules)."""
    target = norm(phrase)
    number = _NUMBER.match(target.replace(",", ""))
    if number:
        value = float(target.replace(",", ""))
        decimals = len(number.group(1) or "")
        tolerance = 0.5 * 10**-decimals + 1e-9 if decimals else 1e-9
        found = (float(m.group().replace(",", "")) for m in _NUMBERS_IN_TEXT.finditer(norm(text)))
        return any(abs(v - value) <= tolerance for v in found)
    return re.search(rf"(?<!\w){re.escape(target)}(?!\w)", norm(text)) is not None


def _missing_phrase(text: str, phrases: Sequence[str]) -> str | None:
    return next((p for p in phrases if not contains(text, p)), None)


def answer_differences(answer: str, checks: Sequence[Sequence[str]]) -> list[str]:
    """What the answer lacks: each check is a group of phrases of which one must appear."""
    out = []
    for group in checks:
        if not any(contains(answer, p) for p in group):
            if len(group) == 1:
                out.append(f"the answer does not contain '{group[0]}'")
            else:
                out.append(f"the answer contains none of {', '.join(repr(p) for p in group)}")
    return out


def _contact_diffs(expected: World, actual: World) -> list[str]:
    def keyed(w: World) -> Counter:
        return Counter((norm(c.name), c.email.casefold(), norm(c.phone)) for c in w.contacts)

    exp, act = keyed(expected), keyed(actual)
    names = {(norm(c.name), c.email.casefold(), norm(c.phone)): c for w in (expected, actual) for c in w.contacts}
    out = [f"no contact '{names[k].name}' <{names[k].email}> was added" for k in exp - act]
    out += [f"a contact '{names[k].name}' <{names[k].email}> was added though the task did not ask for it"
            for k in act - exp]  # fmt: skip
    return out


def _event_diffs(initial: World, expected: World, actual: World) -> list[str]:
    def key(e: Event) -> tuple[str, str, str]:
        return e.date, e.time, norm(e.title)

    first = {key(e): e for e in initial.events.values()}
    events = {key(e): e for w in (expected, actual) for e in w.events.values()}
    exp = Counter(key(e) for e in expected.events.values())
    act = Counter(key(e) for e in actual.events.values())
    out = []
    for k in exp - act:
        e = events[k]
        if k in first:
            out.append(f"event {e.id} ('{e.title}' on {e.date}) was deleted though it should stay")
        else:
            out.append(f"no event '{e.title}' on {e.date} at {e.time} was added")
    for k in act - exp:
        e = events[k]
        if k in first:
            out.append(f"event {e.id} ('{e.title}' on {e.date}) was expected to be deleted")
        else:
            out.append(f"an event '{e.title}' on {e.date} at {e.time} was added though the task did not ask for it")
    return out


def _message_diffs(expected: World, actual: World, text_checks: Mapping[str, Sequence[str]]) -> list[str]:
    unmatched = list(actual.messages)
    out = []
    for want in expected.messages:
        phrases = text_checks.get(f"message:{want.to}")
        same_to = [m for m in unmatched if m.to == want.to]
        good = next((m for m in same_to if (_missing_phrase(m.body, phrases) is None if phrases
                                            else norm(m.body) == norm(want.body))), None)  # fmt: skip
        if good is not None:
            unmatched.remove(good)
        elif same_to:
            unmatched.remove(same_to[0])
            lacking = _missing_phrase(same_to[0].body, phrases) if phrases else want.body
            out.append(f"the message to {want.to} does not contain '{lacking}'")
        else:
            out.append(f"no message was sent to {want.to}")
    out += [f"a message was sent to {m.to} though the task did not ask for it" for m in unmatched]
    return out


def _file_diffs(initial: World, expected: World, actual: World, text_checks: Mapping[str, Sequence[str]]) -> list[str]:
    out = []
    for path in sorted(set(expected.files) | set(actual.files)):
        want, got = expected.files.get(path), actual.files.get(path)
        phrases = text_checks.get(f"file:{path}")
        if want is None:
            out.append(f"file {path} was written though the task did not ask for it")
        elif got is None:
            out.append(f"file {path} was not written")
        elif phrases:
            lacking = _missing_phrase(got, phrases)
            if lacking is not None:
                out.append(f"file {path} does not contain '{lacking}'")
        elif norm(got) != norm(want):
            changed = path in initial.files and initial.files[path] == want
            out.append(f"file {path} was changed though it should stay the same" if changed
                       else f"file {path} does not hold the expected text")  # fmt: skip
    return out


def _order_diffs(initial: World, expected: World, actual: World) -> list[str]:
    out = []
    for oid in initial.orders:
        want, got = expected.orders[oid].status, actual.orders[oid].status
        if want != got:
            out.append(f"order {oid} was expected to be cancelled" if want == "cancelled"
                       else f"order {oid} was cancelled though it should stay")  # fmt: skip

    def new(w: World) -> Counter:
        return Counter((o.item_id, o.quantity, o.status) for o in w.orders.values() if o.id not in initial.orders)

    exp, act = new(expected), new(actual)
    out += [f"no order of {q} '{initial.items[i].name}' was placed" for i, q, _ in exp - act]
    out += [f"an order of {q} '{initial.items[i].name}' was placed"
            + (" (and cancelled)" if s == "cancelled" else "") + " though the task did not ask for it"
            for i, q, s in act - exp]  # fmt: skip
    if not out:
        out = [f"the stock of '{initial.items[i].name}' is {actual.stock[i]}, expected {n}"
               for i, n in expected.stock.items() if actual.stock[i] != n]  # fmt: skip
    return out


def world_differences(
    initial: World, expected: World, actual: World, text_checks: Mapping[str, Sequence[str]]
) -> list[str]:
    """How the actual final world differs from the expected one, one sentence each (empty: as expected)."""
    return [
        *_message_diffs(expected, actual, text_checks),
        *_event_diffs(initial, expected, actual),
        *_order_diffs(initial, expected, actual),
        *_file_diffs(initial, expected, actual, text_checks),
        *_contact_diffs(expected, actual),
    ]
