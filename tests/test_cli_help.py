"""Every option of both command lines says what it does in --help, and the app's commands all
come from one table (app.cli.main.COMMANDS)."""

from __future__ import annotations

import argparse

import pytest

from app.cli import main as cli
from training import cli as training_cli


def _with_subcommands(name: str, parser: argparse.ArgumentParser):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _with_subcommands(f"{name} {sub_name}", sub)


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    found = list(_with_subcommands("app", cli._main_parser()))
    for command in cli.COMMANDS:
        found += _with_subcommands(f"app {command.name}", command.parser())
    found += _with_subcommands("training", training_cli.parser())
    return found


@pytest.mark.parametrize("name,parser", _parsers(), ids=[n for n, _ in _parsers()])
def test_every_option_has_help(name: str, parser: argparse.ArgumentParser) -> None:
    silent = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
        and a.help != argparse.SUPPRESS
        and not (a.help or "").strip()
        and a.option_strings  # positionals are named by their metavar and the usage line
    ]
    assert silent == [], f"{name}: options without help: {silent}"


def test_the_command_table_is_the_one_list(capsys: pytest.CaptureFixture[str]) -> None:
    """--help's usage lines and its `commands:` list name every row, in order; each row's
    parser is the one `main` runs (its --help names the command)."""
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    usage = text.split("\n\n")[0]
    listed = text.split("commands:\n")[1].split("\n\n")[0]
    names = [c.name for c in cli.COMMANDS]
    prog = cli.prog()
    assert [line.strip()[len(prog) :].split()[0] for line in usage.splitlines()[1:]] == names
    assert [line.split()[0] for line in listed.splitlines()[: len(names)]] == names
    for command in cli.COMMANDS:
        assert command.help in listed
        assert cli.main([command.name, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: {prog} {command.name} ")
