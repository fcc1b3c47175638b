"""What the find box means: a query over the few values the photo lists already keep per row
(name, label, manual or automatic, needs review, error), so filtering 100,000 photos is one
list comprehension, never a data() call. Pure Python (no Qt): the query is a value, tested
on its own.

    sea               the name contains "sea", or the scene starts with "sea"
    IMG_20 harbour    both words (every term must hold)
    scene:forest      the scene is forest (scene:none: "Not a scene")   is:manual   by hand
    is:auto           an automatic label             is:review   needs review
    is:error          a photo that could not be read
    -is:manual        a leading minus negates a term; "two words" keeps a space in a name
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from app.model.openset import OUTCOMES

# (name key, label, manual, needs review, has error) -> bool
Test = Callable[[str, "str | None", bool, bool, bool], bool]

ATTRIBUTES: dict[str, tuple[str, Test]] = {
    "manual": ("labelled by hand", lambda n, lab, m, r, e: m),
    "auto": ("an automatic label", lambda n, lab, m, r, e: lab is not None and not m),
    "review": ("needs review", lambda n, lab, m, r, e: r),
    "error": ("could not be read", lambda n, lab, m, r, e: e),
}
ALIASES = {"automatic": "auto", "hand": "manual", "errors": "error", "unsure": "review"}
HELP = (
    "Find photos: words match the file name or the scene (every word must match).\n"
    "scene:sea — only that scene (scene:none: Not a scene) · is:manual, is:auto, is:review, "
    "is:error\n"
    'A leading minus excludes (-is:manual); quotes keep a space ("my trip"). '
    "Ctrl+F comes here, Esc clears."
)


class QueryError(ValueError):
    """A term the find box cannot mean (shown to the user, the filter stays as it was)."""


@dataclass(frozen=True)
class PhotoFilter:
    """A parsed query: every term must hold for a photo to show."""

    text: str
    terms: tuple[tuple[bool, Test], ...]  # (negated, test)

    def matches(
        self, name_key: str, label: str | None, manual: bool, review: bool, error: bool
    ) -> bool:
        return all(neg != test(name_key, label, manual, review, error) for neg, test in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms


def _word(word: str) -> Test:
    return lambda n, lab, m, r, e: word in n or (lab is not None and lab.startswith(word))


def _scene(scene: str) -> Test:
    return lambda n, lab, m, r, e: lab == scene


def parse(text: str) -> PhotoFilter:
    """The query typed in the find box; raises QueryError for an unknown `is:` or `scene:`."""
    try:
        words = shlex.split(text)
    except ValueError:  # an open quote while typing: take the words as they are
        words = text.replace('"', " ").replace("'", " ").split()
    terms: list[tuple[bool, Test]] = []
    for raw in words:
        negated = raw.startswith("-") and len(raw) > 1
        word = (raw[1:] if negated else raw).lower()
        key, colon, value = word.partition(":")
        if colon and key == "is":
            value = ALIASES.get(value, value)
            if value not in ATTRIBUTES:
                raise QueryError(
                    f"is:{value} is not known; try " + ", ".join(f"is:{a}" for a in ATTRIBUTES)
                )
            terms.append((negated, ATTRIBUTES[value][1]))
        elif colon and key == "scene":
            scenes = [c for c in OUTCOMES if c.startswith(value)] if value else []
            if len(scenes) != 1:
                raise QueryError(f"scene:{value} is not one of " + ", ".join(OUTCOMES))
            terms.append((negated, _scene(scenes[0])))
        elif word:
            terms.append((negated, _word(word)))
    return PhotoFilter(text, tuple(terms))


NO_FILTER = parse("")
