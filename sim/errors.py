"""Errors a user can fix: each names the file, the field, the value and what is allowed.

A message never holds more of the user's input than a short excerpt: values are shown with ``excerpt`` (a bounded
``reprlib`` representation, built without ever building the whole value's ``repr``), and every other part of a
message (the source, the field, what is allowed, the problem) is cut to a fixed length, so a huge or deeply shared
value costs as little to report as a small one.
"""

from __future__ import annotations

import reprlib

#: Longest excerpt of a value a message shows (characters).
VALUE_CHARS = 80
#: Longest source, field path, problem and list of what is allowed a message shows (characters).
SOURCE_CHARS, FIELD_CHARS, DETAIL_CHARS, ALLOWED_CHARS = 240, 160, 600, 600
#: Problems of one input shown at most (the rest are counted).
MAX_PROBLEMS = 20


class _BoundedRepr(reprlib.Repr):
    """``reprlib.Repr`` that also cuts bytes before representing them."""

    def repr_bytes(self, x: bytes, level: int) -> str:
        s = builtins_repr(bytes(x[: self.maxstring]))
        return s if len(x) <= self.maxstring else s[:-1] + "...'"

    repr_bytearray = repr_bytes


def builtins_repr(x: object) -> str:
    return repr(x)


_REPR = _BoundedRepr(maxlevel=3, maxtuple=6, maxlist=6, maxarray=6, maxdict=6, maxset=6, maxfrozenset=6, maxdeque=6,
                     maxstring=78, maxlong=40, maxother=60)


def cut(text: object, limit: int) -> str:
    """``text`` (a string) cut to at most ``limit`` characters, ending in '...' when cut."""
    text = text if isinstance(text, str) else str(text)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def excerpt(value: object, limit: int = VALUE_CHARS) -> str:
    """A short representation of ``value``: at most ``limit`` characters, a few items per level, a few levels deep.

    Costs the same for a value of any size (a string of a million characters, a list shared a billion times
    through YAML aliases): only the items shown are looked at.
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # a broken __repr__ must not hide the user's problem
        text = f"<{type(value).__name__}>"
    return cut(text, limit)


class InputError(Exception):
    """A problem with user input (a scenario file, an organisation profile, a flag, a study or a sweep spec).

    The CLI prints ``str(error)`` as one message and exits with code 2; no traceback.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None, value: object = None, allowed: str | None = None):
        self.source = None if source is None else cut(source, SOURCE_CHARS)
        self.field = None if field is None else cut(field, FIELD_CHARS)
        self.value = value
        self.allowed = None if allowed is None else cut(allowed, ALLOWED_CHARS)
        self.detail = cut(message, DETAIL_CHARS)
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.source:
            parts.append(f"{self.source}:")
        if self.field:
            parts.append(f"field '{self.field}'")
        if self.value is not None:
            parts.append(f"value {excerpt(self.value)}")
        head = " ".join(parts)
        body = self.detail
        if self.allowed:
            body += f" (allowed: {self.allowed})"
        return f"{head} {body}".strip() if head else body


class InputErrors(InputError):
    """Several problems found at once in one input; shown as one message with one line each (at most MAX_PROBLEMS)."""

    def __init__(self, errors: list[InputError], more: int = 0):
        self.errors = errors
        first = errors[0]
        lines = [str(e) for e in errors[:MAX_PROBLEMS]]
        more += max(len(errors) - MAX_PROBLEMS, 0)
        if more:
            lines.append(f"... and {more:,} more problem{'s' if more > 1 else ''}")
        Exception.__init__(self, "\n".join(lines))
        self.source, self.field, self.value, self.allowed, self.detail = first.source, first.field, first.value, first.allowed, first.detail


def _show(value: object, limit: int = VALUE_CHARS) -> str:
    """A value as messages show it (kept for callers of the first edition; see ``excerpt``)."""
    return excerpt(value, limit)
