"""``reflectloop best --format promptfoo``: the winning prompt where promptfoo
reads it, so ``promptfoo eval`` runs the suite on it unchanged.

Written from the session alone (the suite as the session stored it):
``prompt.txt`` (``prompt.json`` for a chat prompt), the template around the
prompt in promptfoo's ``{{var}}`` syntax; ``tests.yaml``, the tests the session
scored with their vars and assertions (``defaultTest``'s merged in, as the
run used them); each Python assertion's source beside them; and
``promptfooconfig.yaml``, the suite's own config (description, providers …)
pointing at those files.

A test the session left out of the prompt's score (errored: a python
assertion that raised or timed out, a failed judge or embeddings call) is
written too, and named with its cause in the config's header
(:func:`left_out`): promptfoo grades the assertion that could not run 0 and
fails the test, so its score and pass rate for the prompt count that test
where reflectloop's leave it out.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reflectloop.core.metrics.promptfoo_python import python_reference
from reflectloop.core.tasks.promptfoo import PREFIX, PROMPT_DELIMITER
from reflectloop.core.tasks.promptfoo_template import chat_messages, to_nunjucks
from reflectloop.core.tasks.promptfoo_tests import load_yaml
from reflectloop.core.tasks.stored import SPLITS
from reflectloop.sessions.best import Best
from reflectloop.sessions.store import SessionStore

DROPPED = ("outputPath", "defaultTest")  # where results go is the person's; defaultTest is merged into the tests


def is_suite(task: str) -> bool:
    return task.partition(":")[0].strip().casefold() == PREFIX


def save_promptfoo(best: Best, out: str | Path) -> list[Path]:
    """Write the suite with ``best``'s prompt into the folder ``out``; the
    files written.  A session whose task is no promptfoo suite is a ValueError."""
    if not is_suite(best.task):
        raise ValueError(f"{Path(best.session).name}: its task {best.task!r} is no promptfoo suite; "
                         "--format promptfoo writes the prompt of a promptfoo:PATH task")
    with SessionStore.open(best.session, read_only=True) as store:
        stored = store.task
    if stored is None or not stored.get("taskfile"):
        raise ValueError(f"{Path(best.session).name}: the session stores no suite to write the prompt into")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    prompt = to_nunjucks(best.template, best.prompt)
    if chat_messages(prompt, "the best prompt") is not None:
        written.append(_write(folder / "prompt.json", prompt + "\n"))
        prompts: list[Any] = ["file://prompt.json"]
    elif any(line.strip() == PROMPT_DELIMITER for line in prompt.split("\n")):
        prompts = [prompt]  # a prompt file would be split at its --- line
    else:
        written.append(_write(folder / "prompt.txt", prompt + "\n"))
        prompts = ["file://prompt.txt"]
    python = stored["taskfile"]["metric"].get("python", {})
    tests = [_test(e["target"], python) for e in _examples(stored)]
    for name, source in python.items():
        written.append(_write(folder / Path(name).name, source))
    written.append(_write(folder / "tests.yaml", _yaml(tests)))
    config = load_yaml(stored["taskfile"]["text"], "the stored suite")
    config = {k: v for k, v in config.items() if k not in DROPPED}
    config.update(prompts=prompts, tests="file://tests.yaml")
    header = (f"# The best prompt of {Path(best.session).name} (step {best.step}, dev {best.dev:.3f}), "
              f"written by reflectloop from the suite {best.task.partition(':')[2]}\n")
    header += "".join(f"# {line}\n" for line in left_out(best))
    written.append(_write(folder / "promptfooconfig.yaml", header + _yaml(config)))
    return written


def left_out(best: Best) -> list[str]:
    """The tests the session left out of the best prompt's score, each with
    its cause, and what promptfoo does with them instead."""
    causes: dict[str, str] = {}
    with SessionStore.open(best.session, read_only=True) as store:
        for _, ev in store.evaluations():
            if ev.prompt_id == best.prompt_id:
                causes.update({r.example_id: r.errored for r in ev.results if r.errored})
    return [f"{test_id} errored in reflectloop, left out of the prompt's score ({' '.join(cause.split())}); "
            "promptfoo grades the assertion that could not run 0 and fails the test"
            for test_id, cause in sorted(causes.items(), key=lambda item: _number(item[0]))]


def _number(test_id: str) -> int:
    return int(test_id.rpartition("-")[2])


def _examples(stored: dict) -> list[dict]:
    """Every example the session scored, once, in the suite's order."""
    seen: dict[str, dict] = {}
    for split in SPLITS:
        for example in stored["examples"].get(split, ()):
            seen.setdefault(example["id"], example)
    return sorted(seen.values(), key=lambda e: _number(e["id"]))


def _test(target: dict, python: dict) -> dict:
    test = {k: target[k] for k in ("description", "vars") if k in target}
    test["assert"] = [_assertion(a, python) for a in target["assert"]]
    for key in ("threshold", "options", "metadata"):
        if target.get(key):
            test[key] = target[key]
    return test


def _assertion(assertion: dict, python: dict) -> dict:
    """A python assertion points at its source's copy beside the config."""
    if assertion["type"].removeprefix("not-") != "python":
        return assertion
    path, function = python_reference(assertion["value"])
    return {**assertion, "value": f"file://{Path(path).name}:{function}"}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _yaml(data: Any) -> str:
    import yaml

    # JSON round trip first: plain types only, so safe_dump never writes a Python tag.
    return yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False, allow_unicode=True, width=1000)
