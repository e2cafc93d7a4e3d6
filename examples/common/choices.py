"""A str setting whose allowed values are the names of a table, read when it is checked.

``one_of(table)`` is ``Annotated[str, OneOf(table), ...]``: pydantic checks the value
against the table's keys at validation time, and ``examples.common.cli`` offers the
same keys as the option's choices when a parser is built. A ``Literal`` fixes its
values when the module is imported; a name added to the table later (a method given
to ``examples.methods.register_method``) would be refused by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator

__all__ = ["OneOf", "one_of", "quoted_choices"]


def quoted_choices(names: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``: how pydantic words a Literal's values, so messages read alike."""
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class OneOf:
    """Field metadata: the value must be a key of ``table`` (its keys as they are now)."""

    __slots__ = ("table",)

    def __init__(self, table: Mapping[str, Any]) -> None:
        self.table = table

    def names(self) -> tuple[str, ...]:
        return tuple(self.table)

    def check(self, value: str) -> str:
        if value not in self.table:
            # Worded for modnet.config.config_error: "<field> must be one of ..., got ...".
            raise ValueError(f"be one of {quoted_choices(self.table)}")
        return value


def one_of(table: Mapping[str, Any]) -> Any:
    """The type of a setting that names one entry of ``table``."""
    marker = OneOf(table)
    return Annotated[str, marker, AfterValidator(marker.check)]
