"""The command line run in-process, against the fake OpenAI-compatible endpoint."""
from __future__ import annotations

from reflectloop.tui.cli import main


def cli(capsys, *argv) -> tuple[int, str, str]:
    """``reflectloop ARGV``: its exit code, stdout and stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fake_flags(url: str) -> list[str]:
    """Both roles at the fake endpoint ``url``."""
    return ["--target", "openai:fake", "--target-base-url", url, "--optimizer", "openai:fake",
            "--optimizer-base-url", url]
