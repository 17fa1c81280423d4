"""Topic templates: a topic with placeholders, rendered, filtered and matched.

A template is tokenised once; a matchable one compiles to one regex, which
the adapters run on the topic of every message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from .models import DownlinkError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

# ChirpStack's Handlebars placeholders: {{name}}.
HANDLEBARS: Final = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# What a template that is not matchable matches: nothing.
_NO_MATCH: Final = re.compile("(?!)")


class TopicTemplate:
    """A topic with placeholders, tokenised once.

    render() fills every placeholder, filter() turns the unknown ones into
    "+" wildcards for subscribing, match() extracts them from a topic.
    """

    __slots__ = ("_segments", "groups", "regex", "template", "variables")

    def __init__(
        self,
        template: str,
        allowed: Collection[str],
        *,
        syntax: re.Pattern[str] = HANDLEBARS,
        required: Collection[str] = (),
        matchable: bool = False,
    ) -> None:
        """Tokenise; ValueError on unknown or missing placeholders."""
        self.template = template
        self._segments = [_tokenise(segment, syntax) for segment in template.split("/")]
        self.variables = frozenset(
            text for segment in self._segments for text, is_var in segment if is_var
        )
        if unknown := sorted(self.variables - set(allowed)):
            raise ValueError(
                f"Topic {template!r} uses unsupported placeholder(s) "
                f"{', '.join(unknown)}; supported: {', '.join(sorted(allowed))}"
            )
        if missing := sorted(set(required) - self.variables):
            raise ValueError(
                f"Topic {template!r} lacks the placeholder(s) {', '.join(missing)}"
            )
        # match(): regex group i + 1 holds the value of groups[i].
        self.groups: tuple[str, ...] = ()
        self.regex = _NO_MATCH
        if matchable:
            # (prefix, variable or None, suffix) per level.
            matchers: list[tuple[str, str | None, str]] = []
            for segment in self._segments:
                names = [i for i, (_, is_var) in enumerate(segment) if is_var]
                if len(names) > 1:
                    raise ValueError(
                        f"Topic {template!r} has two placeholders in one level"
                    )
                if not names:
                    matchers.append(("".join(t for t, _ in segment), None, ""))
                    continue
                i = names[0]
                matchers.append(
                    (
                        "".join(t for t, _ in segment[:i]),
                        segment[i][0],
                        "".join(t for t, _ in segment[i + 1 :]),
                    )
                )
            # A value is the non-empty rest of a level between prefix and suffix.
            self.groups = tuple(name for _, name, _ in matchers if name)
            self.regex = re.compile(
                "/".join(
                    re.escape(prefix)
                    if name is None
                    else f"{re.escape(prefix)}([^/]+){re.escape(suffix)}"
                    for prefix, name, suffix in matchers
                )
            )

    def render(self, values: Mapping[str, str | None]) -> str:
        """The topic with every placeholder filled; ValueError when one is unknown."""
        levels = []
        for segment in self._segments:
            level = []
            for text, is_var in segment:
                if not is_var:
                    level.append(text)
                    continue
                value = values.get(text)
                if not value:
                    raise DownlinkError(
                        f"Topic {self.template!r} needs the device's {text}, "
                        "which is not known (yet)"
                    )
                level.append(value)
            levels.append("".join(level))
        return "/".join(levels)

    def filter(self, values: Mapping[str, str]) -> str:
        """Topic filter: placeholders without a value (or "+") become "+"."""
        levels = []
        for segment in self._segments:
            level = []
            for text, is_var in segment:
                value = values.get(text, "+") if is_var else text
                if value == "+" and is_var:
                    level = ["+"]
                    break
                level.append(value)
            levels.append("".join(level))
        return "/".join(levels)

    def match(self, topic: str) -> dict[str, str] | None:
        """Placeholder values of a topic, or None when it does not fit.

        Only a matchable template matches anything.
        """
        found = self.regex.fullmatch(topic)
        if found is None:
            return None
        return dict(zip(self.groups, found.groups(), strict=True))


def _tokenise(segment: str, syntax: re.Pattern[str]) -> list[tuple[str, bool]]:
    """Split one topic level into (text, is_placeholder) tokens."""
    tokens: list[tuple[str, bool]] = []
    position = 0
    for found in syntax.finditer(segment):
        if found.start() > position:
            tokens.append((segment[position : found.start()], False))
        tokens.append((found.group(1), True))
        position = found.end()
    if position < len(segment) or not tokens:
        tokens.append((segment[position:], False))
    return tokens
