"""The docs name only what exists: docs/architecture.md lists every module of storage/
and zeptui/ (and nothing else), and every command in the README's examples is one the
CLI accepts as printed (its command, options and arguments)."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click
import pytest

from zeptui.cli import cli

ROOT = Path(__file__).resolve().parent.parent
TREE_ENTRY = re.compile(r"^( *)(\S+)")


def listed_modules(architecture: str) -> set[str]:
    """The paths the layout block of architecture.md names (files and folders)."""
    block = architecture.split("```")[1]
    parents: list[tuple[int, str]] = []
    listed: set[str] = set()
    for line in block.splitlines():
        entry = TREE_ENTRY.match(line)
        if entry is None or not entry.group(2).endswith((".py", "/", ".tcss")):
            continue
        indent, name = len(entry.group(1)), entry.group(2)
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = "".join(parent for _, parent in parents) + name
        listed.add(path)
        if name.endswith("/"):
            parents.append((indent, name))
    return listed


def only_a_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return len(body) <= 1 and all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
    )


def test_architecture_lists_every_module_and_only_those() -> None:
    listed = listed_modules((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    modules = {
        str(path.relative_to(ROOT))
        for package in ("storage", "zeptui")
        for path in (ROOT / package).rglob("*")
        if path.suffix in (".py", ".tcss") and "__pycache__" not in path.parts
    }
    # A package's __init__.py that holds only its docstring needs no line of its own.
    unlisted = {
        module
        for module in modules - listed
        if not (module.endswith("__init__.py") and only_a_docstring(ROOT / module))
    }
    assert not unlisted, f"docs/architecture.md does not list {sorted(unlisted)}"
    files = {path for path in listed if not path.endswith("/")}
    assert not files - modules, f"docs/architecture.md lists missing {sorted(files - modules)}"


def readme_commands() -> list[str]:
    """Every `zeptui ...` line of the README's bash blocks, continuations joined."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("zeptui"):
                lines.append(line.strip())
    return lines


def parse_command_line(words: list[str]) -> click.Context:
    """`zeptui WORDS` parsed down to its command, as click would before running it."""
    ctx = cli.make_context("zeptui", list(words))
    command = ctx.command
    while isinstance(command, click.Group):
        # click 8.2 renamed protected_args (and warns on the old name).
        protected = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
        rest = [*protected, *ctx.args]
        if not rest:
            break
        name, command_found, rest = command.resolve_command(ctx, rest)
        assert name is not None and command_found is not None
        ctx = command_found.make_context(name, rest, parent=ctx)
        command = command_found
    return ctx


def test_the_readme_has_examples() -> None:
    assert len(readme_commands()) >= 25


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_example_parses_as_printed(line: str) -> None:
    words = shlex.split(line, comments=True)
    for redirect in ("|", ">"):
        if redirect in words:
            words = words[: words.index(redirect)]
    assert words[0] == "zeptui"
    parse_command_line(words[1:])  # raises a one-line usage error if it does not parse
