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


def fmt_value(value: object) -> str:
    """Render a value as it would appear in TOML, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {fmt_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        if len(value) > 12:     # a long array: its start and its length
            return "[" + ", ".join(fmt_value(v) for v in value[:6]) + f", ... ({len(value)} items)]"
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, int) and abs(value) >= 10 ** 30:
        return f"<an integer with {len(str(abs(value)))} digits>"
    return repr(value)
