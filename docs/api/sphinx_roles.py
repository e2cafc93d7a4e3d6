"""Griffe extension for the docs site: the docstrings' Sphinx habits, as Markdown.

The docstrings are Google style with a few habits from Sphinx that Markdown would print
raw or mis-read. This rewrites them when the site is built (the sources are unchanged):

- a role, ``:class:`~modnet.config.SoftRoutedMLPConfig``` or ``:meth:`forward```, becomes
  an autorefs link; short names resolve in the docstring's scope (``scoped_crossrefs``
  in mkdocs.yml), and a name that resolves nowhere fails ``mkdocs build --strict``;
- a ``#:`` comment above an attribute becomes its docstring;
- one ``Args:`` entry naming several parameters (``device, dtype: as for nn.Linear``)
  becomes one entry per parameter, so each is checked against the signature;
- a literal block after ``::`` and a bare ``>>>`` doctest become fenced code.

Loaded by mkdocs.yml (``extensions: [docs/api/sphinx_roles.py]``); not a page of the site.
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

from griffe import Docstring, Extension, Object

ROLE = re.compile(
    r":(?:py:)?(?:class|mod|func|meth|attr|data|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`"
)
SECTION = re.compile(
    r"(?P<indent>\s*)(?:Args|Arguments|Parameters|Keyword Args|Keyword Arguments"
    r"|Other Parameters|Attributes):\s*$"
)
SEVERAL_NAMES = re.compile(r"(?P<indent>\s+)(?P<names>[\w*]+(?:,\s*[\w*]+)+):(?P<rest>\s.*|)$")


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def link_roles(line: str) -> str:
    """Each Sphinx role as ``[`shown`][target]`` (``~`` shows the last dotted part only)."""

    def link(match: re.Match[str]) -> str:
        target = match["target"].strip()
        shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
        return f"[`{shown}`][{target}]"

    return ROLE.sub(link, line)


def take_indented(lines: list[str], start: int, deeper_than: int) -> int:
    """End (exclusive) of the block from ``start`` whose lines are indented past
    ``deeper_than``; blank lines inside the block belong to it, trailing ones do not."""
    end = start
    for i in range(start, len(lines)):
        if lines[i].strip() and indent_of(lines[i]) <= deeper_than:
            break
        if lines[i].strip():
            end = i + 1
    return end


def is_python(block: list[str]) -> bool:
    """Whether the literal ``block`` parses as Python (then it is highlighted as such)."""
    try:
        ast.parse(textwrap.dedent("\n".join(block)))
    except SyntaxError:
        return False
    return True


def fence(block: list[str], indent: int, language: str = "") -> list[str]:
    """``block`` as a fenced code block at column ``indent``, its own indentation kept."""
    depth = min(indent_of(line) for line in block if line.strip())
    pad = " " * indent
    body = [pad + line[depth:] if line.strip() else "" for line in block]
    return [f"{pad}```{language}", *body, f"{pad}```"]


def to_markdown(text: str) -> str:
    """The docstring ``text`` with its Sphinx habits rewritten (see the module docstring)."""
    lines = text.splitlines()
    out: list[str] = []
    section: int | None = None  # indentation of the Args-like section we are in
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence or stripped.startswith("```"):
            out.append(line)
            i += 1
            continue
        if stripped and section is not None and indent_of(line) <= section:
            section = None
        if stripped.startswith(">>>"):
            # A doctest: the prompt lines and the output up to a blank line.
            end = i + 1
            while end < len(lines) and lines[end].strip():
                end += 1
            out += fence(lines[i:end], indent_of(line), "pycon")
            i = end
            continue
        if stripped.endswith("::"):
            body = take_indented(lines, i + 1, indent_of(line))
            if body > i + 1:
                # "e.g.::" reads "e.g.:", a lone "::" reads nothing (as in Sphinx).
                head = line.rstrip()[:-2]
                out += [link_roles(head + ":") if head.strip() else "", ""]
                first = next(j for j in range(i + 1, body) if lines[j].strip())
                block = lines[first:body]
                out += fence(block, indent_of(line), "python" if is_python(block) else "text")
                i = body
                continue
        match = SECTION.fullmatch(line)
        if match:
            section = len(match["indent"])
        several = SEVERAL_NAMES.fullmatch(line) if section is not None else None
        if several:
            # One entry per name, each with the whole description.
            end = take_indented(lines, i + 1, len(several["indent"]))
            rest = [link_roles(x) for x in lines[i + 1 : end]]
            for name in re.split(r",\s*", several["names"]):
                out += [f"{several['indent']}{name}:{link_roles(several['rest'])}", *rest]
            i = end
            continue
        out.append(link_roles(line))
        i += 1
    return "\n".join(out)


def comment_docstring(obj: Object) -> str | None:
    """The ``#:`` comment lines right above ``obj``'s first line, or None."""
    source = obj.module.lines if obj.lineno else []
    above: list[str] = []
    for line in reversed(source[: obj.lineno - 1]):
        if not line.strip().startswith("#:"):
            break
        above.insert(0, line.strip()[2:].removeprefix(" "))
    return "\n".join(above) or None


class SphinxRoles(Extension):
    """Rewrite every loaded docstring (see the module docstring)."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is None and obj.is_attribute:
            comment = comment_docstring(obj)
            if comment is not None:
                obj.docstring = Docstring(comment, lineno=obj.lineno, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
