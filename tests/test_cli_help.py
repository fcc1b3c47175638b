"""Every option of both command lines says what it does in --help."""

from __future__ import annotations

import argparse

import pytest

from app.cli import main as cli
from app.cli import tag as cli_tag
from training import cli as training_cli


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    found = [
        ("app", cli._main_parser()),
        ("app classify", cli._classify_parser()),
        ("app tag", cli_tag._tag_parser()),
    ]
    top = training_cli.parser()
    found.append(("training", top))
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += [(f"training {name}", sub) for name, sub in action.choices.items()]
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
