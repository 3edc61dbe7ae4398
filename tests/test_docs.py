"""README.md documents every setting and every command: a new one without docs fails here."""

from __future__ import annotations

import click
import pytest
from conftest import PROJECT

from kb.cli import cli
from kb.config import DEFAULTS

README = (PROJECT / "README.md").read_text(encoding="utf-8")


def kb_commands() -> list[str]:
    """Every command kb adds to the `kb` group; a group's commands spelled in full ("db upgrade")."""
    names: list[str] = []
    for name, command in sorted(cli.commands.items()):
        if command.callback is None or command.callback.__module__ != "kb.cli":
            continue  # Flask's own run, shell and routes
        if isinstance(command, click.Group):
            names += [f"{name} {sub}" for sub in sorted(command.commands)]
        else:
            names.append(name)
    return names


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_setting_is_documented(key: str) -> None:
    assert f"KB_{key}" in README


@pytest.mark.parametrize("name", kb_commands())
def test_command_is_documented(name: str) -> None:
    assert f"kb {name}" in README


def test_commands_are_found() -> None:
    assert {"index", "check", "serve"} <= set(kb_commands())
