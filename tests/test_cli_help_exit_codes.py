"""What a new user reads in --help (issue 23.14): every command that works on photos lists its
exit codes, the commands: footer names every command, every positional says what it is."""

from __future__ import annotations

import re

import pytest

from app.cli import main as cli


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main([*argv, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "command", ["classify", "tag", "label", "learn", "install-desktop", "uninstall-desktop"]
)
def test_each_command_lists_its_exit_codes(capsys, command: str) -> None:
    text = help_text(capsys, command)
    assert "exit status:" in text
    codes = re.findall(r"^  (\d+) ", text.split("exit status:")[1], re.MULTILINE)
    assert codes[:3] == ["0", "1", "2"], text


def test_the_footer_names_every_command(capsys) -> None:
    footer = help_text(capsys).split("commands:")[1].split("exit status:")[0]
    listed = [line.split()[0] for line in footer.splitlines() if line.startswith("  ")]
    assert listed == [
        "classify",
        "tag",
        "cache",
        "label",
        "learn",
        "install-desktop",
        "uninstall-desktop",
    ]


@pytest.mark.parametrize(("command", "word"), [("tag", "FOLDER"), ("label", "PHOTO")])
def test_positionals_say_what_they_are(capsys, command: str, word: str) -> None:
    text = help_text(capsys, command)
    positional = text.split("positional arguments:")[1].split("options:")[0]
    line = next(x for x in positional.splitlines() if x.strip().startswith(word))
    assert len(line.strip()) > len(word) + 5, positional  # a description beside the name
