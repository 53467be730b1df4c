"""Errors a user can fix: each names the file, the field, the value and what is allowed."""

from __future__ import annotations


class InputError(Exception):
    """A problem with user input (a scenario file, an organisation profile, a flag, a study or a sweep spec).

    The CLI prints ``str(error)`` as one message and exits with code 2; no traceback.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None, value: object = None, allowed: str | None = None):
        self.source, self.field, self.value, self.allowed = source, field, value, allowed
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.source:
            parts.append(f"{self.source}:")
        if self.field:
            parts.append(f"field '{self.field}'")
        if self.value is not None:
            parts.append(f"value {_show(self.value)}")
        head = " ".join(parts)
        body = self.detail
        if self.allowed:
            body += f" (allowed: {self.allowed})"
        return f"{head} {body}".strip() if head else body


class InputErrors(InputError):
    """Several problems found at once in one input; shown as one message with one line each."""

    def __init__(self, errors: list[InputError]):
        self.errors = errors
        first = errors[0]
        Exception.__init__(self, "\n".join(str(e) for e in errors))
        self.source, self.field, self.value, self.allowed, self.detail = first.source, first.field, first.value, first.allowed, first.detail


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
