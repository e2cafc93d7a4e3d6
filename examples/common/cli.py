"""An argparse command line generated from a pydantic settings model.

Every field becomes ``--field-name``; its one-line description is the help text, a
``Literal`` or ``one_of(table)`` field lists its allowed values (``field_choices``), a
``bool`` gets ``--x/--no-x``, a tuple takes several values. Validation is left to the
model (``validate_settings``), so Python callers and the command line get the same
checks; ``with_flags`` words their messages with the flags for the command line.
"""

from __future__ import annotations

import argparse
import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from examples.common.choices import OneOf

__all__ = ["add_model_arguments", "field_choices", "flag", "namespace_to_values", "with_flags"]


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def field_choices(model: type[BaseModel], name: str) -> list[str] | None:
    """The values field ``name`` allows, for argparse ``choices``; None if it is open."""
    field = model.model_fields[name]
    annotation = _unwrap_optional(field.annotation)
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    for meta in field.metadata:
        if isinstance(meta, OneOf):
            return list(meta.names())
    return None


def flag(name: str) -> str:
    """The command-line flag of field ``name``: ``total_steps`` -> ``--total-steps``."""
    return "--" + name.replace("_", "-")


def with_flags(message: str, model: type[BaseModel]) -> str:
    """An error message of ``model``'s checks, worded for the command line.

    ``"TrainSettings: total_steps must ..., below total_steps = 600"`` becomes
    ``"--total-steps must ..., below --total-steps = 600"``. A field named after the
    model's name is its subject; elsewhere only names with an underscore are replaced,
    since the others (``tasks``, ``mode``) are also plain words of the messages.
    """
    fields = sorted(model.model_fields, key=len, reverse=True)  # longest first
    subject = re.compile(rf"\b{model.__name__}: ({'|'.join(fields)})\b")
    message = subject.sub(lambda match: flag(match[1]), message)
    snake = [name for name in fields if "_" in name]
    if not snake:
        return message
    return re.sub(rf"(?<![-\w])({'|'.join(snake)})\b", lambda match: flag(match[1]), message)


def add_model_arguments(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """Add one option per field of ``model``; the parsed value is None unless given."""
    for name, field in model.model_fields.items():
        annotation = _unwrap_optional(field.annotation)
        default = field.default
        # A None default is explained by the description itself (e.g. "the preset's").
        help_text = (
            field.description if default is None else f"{field.description} (default: {default})"
        )
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text}
        choices = field_choices(model, name)
        if choices is not None:
            kwargs["choices"] = choices
        elif annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif get_origin(annotation) is tuple:
            kwargs["nargs"] = "+"
            kwargs["metavar"] = name.upper().rstrip("S")
        elif get_origin(annotation) in (Union, types.UnionType) and int in get_args(annotation):
            # int or a named value (env_workers: 2 or "auto"): the model parses the string.
            kwargs["type"] = str
            kwargs["metavar"] = "INT|" + "|".join(
                str(value) for arg in get_args(annotation) for value in get_args(arg)
            )
        elif annotation in (int, float, str):
            kwargs["type"] = annotation
            kwargs["metavar"] = annotation.__name__.upper()
        elif annotation is Path:
            kwargs["type"] = Path
            kwargs["metavar"] = "DIR"
        else:  # pragma: no cover - a new field type must be taught here
            raise TypeError(f"add_model_arguments: no CLI mapping for {name}: {annotation}")
        parser.add_argument(flag(name), **kwargs)


def namespace_to_values(namespace: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The options the user gave, as a dict for ``model(**values)`` (unset ones left out)."""
    values = {}
    for name in model.model_fields:
        value = getattr(namespace, name, None)
        if value is not None:
            values[name] = tuple(value) if isinstance(value, list) else value
    return values
