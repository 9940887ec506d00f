"""The command-line help: generated from the settings model, one flag and
one help line per setting, readable without reStructuredText."""
from __future__ import annotations

import argparse
import re

import pytest

from reflectloop.core.settings.config import SETTINGS
from reflectloop.tui.cli import build_parser
from reflectloop.tui.flags import flag_name, settings

FIELDS = SETTINGS  # the shared settings, then each method's own


def subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices[name]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", ["run", "tui"])
def test_every_setting_is_a_flag_with_a_help_line_and_its_default(command):
    parser = subparser(command)
    by_dest = {a.dest: a for a in parser._actions}
    text = flat(parser.format_help())
    for field in FIELDS:
        action = by_dest.get(field.name)
        assert action is not None and flag_name(field.name) in action.option_strings, field.name
        described = field.help
        assert described, f"RunConfig.{field.name} has no metadata['help']"
        assert "\n" not in described, f"RunConfig.{field.name}: the help is one line"
        assert flat(described) in text, field.name
        default = field.default
        if default is not None and not isinstance(default, bool):
            assert f"(default: {default})" in action.help, field.name


def test_bools_are_flag_pairs_and_no_cache_still_works():
    parser = subparser("run")
    bools = [f for f in FIELDS if f.type.startswith("bool")]
    assert bools, "RunConfig has a bool setting (cache)"
    for field in bools:
        options = next(a.option_strings for a in parser._actions if a.dest == field.name)
        assert options == [flag_name(field.name), "--no-" + field.name.replace("_", "-")]
    top = build_parser()
    assert settings(top.parse_args(["run", "--no-cache"]))["cache"] is False
    assert settings(top.parse_args(["run", "--cache"]))["cache"] is True
    assert "cache" not in settings(top.parse_args(["run"]))  # not given: the config files decide


def test_typed_flags_convert_and_refuse_bad_values(capsys):
    top = build_parser()
    values = settings(top.parse_args(["run", "--beam", "3", "--optimizer-top-p", "0.5", "--target", "openai:x"]))
    assert values == {"beam": 3, "optimizer_top_p": 0.5, "target": "openai:x"}
    with pytest.raises(SystemExit):
        top.parse_args(["run", "--beam", "three"])
    assert "--beam: invalid int value: 'three'" in capsys.readouterr().err


def test_no_help_shows_restructuredtext_backticks():
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, p in {"reflectloop": parser, **sub.choices}.items():
        assert "``" not in p.format_help(), name
    top = parser.format_help()
    for command in ("run", "tui", "sessions", "fork", "export", "import", "audit", "report"):
        assert re.search(rf"^\s+{command}\s+\S", top, re.M), command  # listed with a description
