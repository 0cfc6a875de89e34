"""One exception root for everything a user can get wrong.

The CLI turns any :class:`SimtrialError` into one line on stderr and exit code 2.
Messages follow the house format: ``<where> error: <key path> = <value> <rule> (e.g. <example>)``.
"""

from __future__ import annotations


class SimtrialError(Exception):
    """Root of all user-facing errors (bad scenario, bad evidence request, bad CLI input)."""


class ScenarioError(SimtrialError):
    """A scenario file or override is malformed."""


class EvidenceError(SimtrialError):
    """An evidence request cannot be satisfied (missing row, inconsistent table)."""


MAX_MESSAGE = 400
"""Longest error line printed (characters); longer ones are cut in the middle."""

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {0x7f: "\\x7f", 0x85: "\\x85",
                                                   0x2028: "\\u2028", 0x2029: "\\u2029"}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def escape(text: str, limit: int | None = None) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``) and, beyond ``limit``
    characters, cut to its start and end around an ellipsis: safe to print on one line."""
    text = text.translate(_CONTROL)
    text = "".join(c if not 0xd800 <= ord(c) <= 0xdfff else f"\\u{ord(c):04x}" for c in text)
    if limit is not None and len(text) > limit:
        keep = max(limit - 5, 2)
        text = text[: keep - keep // 4] + " ... " + text[len(text) - keep // 4:]
    return text


def one_line(message: str) -> str:
    """The line the CLI prints for an error: escaped and at most :data:`MAX_MESSAGE` long."""
    return escape(message, MAX_MESSAGE)


def fmt_value(value: object) -> str:
    """Render a value as it would appear in TOML, for error messages (strings escaped and cut
    at 60 characters)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{escape(value, 60)}"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {fmt_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        if len(value) > 12:     # a long array: its start and its length
            return "[" + ", ".join(fmt_value(v) for v in value[:6]) + f", ... ({len(value)} items)]"
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, int) and abs(value) >= 10 ** 30:
        return f"<an integer with {len(str(abs(value)))} digits>"
    return repr(value)
