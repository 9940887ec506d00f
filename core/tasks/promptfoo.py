"""A promptfoo suite (``promptfooconfig.yaml``) as a task: ``promptfoo:PATH``.

The prompts (inline, ``file://`` text or chat JSON) are the starting prompts,
split into the text optimized and the template around it
(``promptfoo_template``); each test is an example whose vars are its fields,
``defaultTest`` merged in (vars, assertions, threshold, the grader provider);
the assertions are the metric (``core.metrics.promptfoo_asserts``).  A suite is
scored whole, as ``promptfoo eval`` scores it: dev and test are both every
test (capped at their sizes), there is no ini.  The first provider that maps
onto reflectloop's (``openai:…`` with its ``apiBaseUrl``, ``anthropic:…``) is
the run's default ``--target``.  Whatever reflectloop would read differently
from promptfoo is refused by name, never ignored.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reflectloop.core.metrics import MetricError, TaskExample
from reflectloop.core.metrics.promptfoo_asserts import MODEL_TYPES, check_assertion, grading_provider, provider_key
from reflectloop.core.metrics.promptfoo_python import python_reference
from reflectloop.core.metrics.python_loader import load_function
from reflectloop.core.metrics.scorer import SUITE_METRICS
from reflectloop.core.tasks.base import TaskError, cap, read_text
from reflectloop.core.tasks.filetask import as_task
from reflectloop.core.tasks.promptfoo_template import template_of
from reflectloop.core.tasks.promptfoo_tests import file_ref, load_yaml, read_tests, resolve
from reflectloop.core.tasks.taskdata import DataSource
from reflectloop.core.tasks.taskfile import TaskSpec, build_scorer
from reflectloop.core.types import Task

PREFIX = "promptfoo"
TOP_KEYS = ("description", "prompts", "providers", "tests", "defaultTest", "outputPath", "sharing",
            "evaluateOptions", "writeLatestResults", "tags")
TEST_KEYS = ("description", "vars", "assert", "threshold", "metadata", "options")
OPTION_KEYS = ("provider",)
PROMPT_FILES = (".txt", ".json")
PROMPT_DELIMITER = "---"  # promptfoo splits a .txt prompt file at lines holding only this
EMBEDDING_PROVIDERS = ("openai:embedding:", "openai:embeddings:")  # promptfoo's ids of OpenAI's embeddings


@dataclass(frozen=True)
class Target:
    """A suite's provider as reflectloop's model spec, or only its name."""

    name: str  # as the suite writes it
    spec: str | None = None  # reflectloop's provider:model; None when it does not map
    base_url: str | None = None


def load(path: Path, *, seed: int, ini_size: int, dev_size: int, test_size: int) -> Task:
    spec = load_suite(path)
    dev, test = cap(spec.examples, dev_size, seed=seed, purpose="promptfoo:dev"), cap(
        spec.examples, test_size, seed=seed, purpose="promptfoo:test")
    return dataclasses.replace(as_task(spec, {"ini": (), "dev": dev, "test": test}), name=f"{PREFIX}:{path}")


def load_suite(path: str | Path) -> TaskSpec:
    """The suite as a ``TaskSpec``; every problem a TaskError naming the file
    (and the prompt, test or assertion) at fault."""
    path = Path(path).expanduser()
    text = read_text(path, path.name)
    config = load_yaml(text, path.name)
    if not isinstance(config, dict):
        raise TaskError(f"{path.name}: a promptfoo config is a mapping (prompts, providers, tests)")
    refuse_unknown(config, TOP_KEYS, path.name)
    try:
        return _build(path, config, text)
    except MetricError as exc:
        raise TaskError(str(exc) if str(exc).startswith(path.name) else f"{path.name}: {exc}") from None


def _build(path: Path, config: dict, text: str) -> TaskSpec:
    base, where = path.parent, path.name
    prompts, prompt_paths = read_prompts(config.get("prompts"), base, where)
    split = [template_of(p, f"{where}: prompt {n}") for n, p in enumerate(prompts, 1)]
    template = split[0][1]
    for n, (_, other) in enumerate(split[1:], 2):
        if other != template:
            raise TaskError(f"{where}: prompts 1 and {n} put their {{{{variables}}}} differently; reflectloop "
                            "optimizes one text in one template: give prompts that differ only in their instruction")
    default = _test(config.get("defaultTest") or {}, base, f"{where}: defaultTest")
    raw_tests, test_paths = read_tests(config.get("tests"), base, where)
    tests = [_merged(default, _test(t, base, f"{where}: test {n}")) for n, t in enumerate(raw_tests, 1)]
    # A var holding a list makes one test per item (per combination), numbered on as promptfoo numbers them.
    expanded = [(n, one) for n, t in enumerate(tests, 1) for one in expand_vars(t)]
    examples = tuple(_example(t, i, n, template.fields, where) for i, (n, t) in enumerate(expanded, 1))
    metric = _metric_table(tests, base, where)
    metric["labels"] = provider_labels(config.get("providers"))
    names = tuple(dict.fromkeys(name for ex in examples for name in ex.fields))
    return TaskSpec(
        path=path, name=str(config.get("description") or path.parent.name or path.stem),
        description=str(config.get("description") or ""),
        source=DataSource(inputs=names, format=PREFIX),
        template=template, scorer=build_scorer({}, metric, base, SUITE_METRICS),
        prompts=tuple(dict.fromkeys(i for i, _ in split)),
        examples=examples, text=text, output_table={}, metric_table=metric, prompt_paths=tuple(prompt_paths),
        other_paths=tuple(test_paths) + tuple(resolve(base, f) for f in metric["python"]),
    )


# ------------------------------------------------------------------ prompts
def read_prompts(value: Any, base: Path, where: str) -> tuple[list[str], list[Path]]:
    if value is None:
        raise TaskError(f"{where}: no prompts: a suite needs at least one prompt")
    prompts: list[str] = []
    paths: list[Path] = []
    for number, item in enumerate(value if isinstance(value, list) else [value], 1):
        if isinstance(item, dict):
            item = item.get("raw", item.get("id"))
        if not isinstance(item, str) or not item.strip():
            raise TaskError(f"{where}: prompt {number} must be text, file://path or a mapping with raw or id")
        ref = file_ref(item)
        if ref is None:
            prompts.append(item)
            continue
        file = resolve(base, ref)
        if file.suffix.casefold() not in PROMPT_FILES:
            raise TaskError(f"{where}: prompt file {ref!r}: reflectloop reads "
                            f"{' and '.join(PROMPT_FILES)} prompt files")
        paths.append(file)
        prompts += prompt_file(file)
    return prompts, paths


def prompt_file(path: Path) -> list[str]:
    """A prompt file as promptfoo reads it: JSON whole; text split at ``---``
    lines, each part trimmed."""
    text = read_text(path, path.name)
    if path.suffix.casefold() == ".json":
        return [text]
    parts: list[str] = []
    buffer: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n") + [PROMPT_DELIMITER]:
        if line.strip() == PROMPT_DELIMITER:
            if "\n".join(buffer).strip():
                parts.append("\n".join(buffer).strip())
            buffer = []
        else:
            buffer.append(line)
    return parts


# -------------------------------------------------------------------- tests
def refuse_unknown(table: dict, known: tuple[str, ...], where: str, what: str = "key") -> None:
    """A key reflectloop does not read is refused by name, never ignored."""
    unknown = [k for k in table if k not in known]
    if unknown:
        raise TaskError(f"{where}: the {what} {unknown[0]!r} is not supported by reflectloop "
                        f"(supported: {', '.join(known)})")


def _test(test: Any, base: Path, where: str) -> dict:
    if not isinstance(test, dict):
        raise TaskError(f"{where} must be a mapping (vars, assert)")
    refuse_unknown(test, TEST_KEYS, where)
    options = test.get("options") or {}
    if not isinstance(options, dict):
        raise TaskError(f"{where}: options must be a mapping")
    refuse_unknown(options, OPTION_KEYS, where, "option")
    vars_ = test.get("vars") or {}
    if not isinstance(vars_, dict):
        raise TaskError(f"{where}: vars must be a mapping of names to values")
    asserts = test.get("assert") or []
    if not isinstance(asserts, list):
        raise TaskError(f"{where}: assert must be a list of assertions")
    checked = [_schema_read(check_assertion(a, f"{where}, assertion {n}"), base, f"{where}, assertion {n}")
               for n, a in enumerate(asserts, 1)]
    return {**test, "vars": {str(k): _var(v, f"{where}: var {k!r}") for k, v in vars_.items()},
            "assert": checked, "options": options}


def _schema_read(assertion: dict, base: Path, where: str) -> dict:
    """An is-json / contains-json schema written as YAML text or file:// is
    read here, as promptfoo reads it, and kept as the mapping."""
    value = assertion.get("value")
    if assertion["type"].removeprefix("not-") not in ("is-json", "contains-json") or not isinstance(value, str):
        return assertion
    ref = file_ref(value)
    text = read_text(resolve(base, ref), f"{where}: schema {ref}") if ref is not None else value
    schema = load_yaml(text, f"{where}: the schema")
    if not isinstance(schema, dict):
        raise TaskError(f"{where}: the {assertion['type']} schema must be a mapping (a JSON schema)")
    return {**assertion, "value": schema}


def _var(value: Any, where: str) -> Any:
    if isinstance(value, list):
        # promptfoo expands a list whose first item is text, and keeps any other list whole.
        if not value or not isinstance(value[0], str):
            raise TaskError(f"{where} is a list that promptfoo passes whole (its first item is not text): "
                            "reflectloop's fields are text")
        return [_var(item, f"{where}, item {n}") for n, item in enumerate(value, 1)]
    if isinstance(value, dict):
        raise TaskError(f"{where} is a mapping: reflectloop's fields are text")
    if file_ref(value) is not None:
        raise TaskError(f"{where} is a file:// reference: write its text into the test")
    return "" if value is None else value


def _merged(default: dict, test: dict) -> dict:
    """A test with ``defaultTest`` merged in, as promptfoo merges it."""
    merged = {**test, "vars": {**default["vars"], **test["vars"]}, "assert": default["assert"] + test["assert"],
              "options": {**default["options"], **test["options"]},
              "metadata": {**(default.get("metadata") or {}), **(test.get("metadata") or {})}}
    if "threshold" not in test and "threshold" in default:
        merged["threshold"] = default["threshold"]
    return merged


def expand_vars(test: dict) -> list[dict]:
    """The test once per combination of its list vars' items, as promptfoo
    expands them (the first var's items varying slowest); a test without
    list vars is itself."""
    combinations: list[dict] = [{}]
    for name, value in test["vars"].items():
        items = value if isinstance(value, list) else [value]
        combinations = [{**done, name: item} for done in combinations for item in items]
    return [{**test, "vars": one} for one in combinations]


def _example(test: dict, index: int, number: int, slots: tuple[str, ...], where: str) -> TaskExample:
    """The ``index``-th test promptfoo runs (``test-INDEX``), from the suite's test ``number``."""
    from reflectloop.core.metrics.promptfoo_checks import js_text

    missing = [s for s in slots if s not in test["vars"]]
    if missing:
        raise TaskError(f"{where}: test {number} has no var {missing[0]!r}, which the prompt uses")
    if not test["assert"]:
        raise TaskError(f"{where}: test {number} has no assertions (nor does defaultTest): nothing to score")
    target = {"vars": test["vars"], "assert": test["assert"]}
    for key in ("description", "threshold", "options", "metadata"):  # metadata: a python assertion's context.test
        if test.get(key) not in (None, {}):
            target[key] = test[key]
    fields = {k: js_text(v) for k, v in test["vars"].items()}
    return TaskExample(f"test-{index}", fields, (), target)


def _metric_table(tests: list[dict], base: Path, where: str) -> dict:
    """The metric's options: each python assertion's source; the judge's
    model from an llm-rubric's (or its test's options') provider; each
    similar assertion's own embeddings model."""
    python, judges, embedders, needs_model, loaded = {}, [], {}, False, set()
    for number, test in enumerate(tests, 1):
        for a in test["assert"]:
            base_type = a["type"].removeprefix("not-")
            if base_type in MODEL_TYPES:
                provider = grading_provider(a, test)
                if base_type == "similar" and provider is not None:
                    embedders[provider_key(provider)] = embedder(provider, f"{where}: test {number}")
                else:
                    needs_model = True  # the judge's model: an llm-rubric, or a similar with no provider of its own
                    judges.append(for_kind(provider, "text"))
            if base_type == "python":
                file, function = python_reference(a["value"])
                python[file] = read_text(resolve(base, file), f"{where}: python assertion {file}")
                if (file, function) not in loaded:  # loaded here, so one that cannot be stops the suite loading
                    load_function(f"{resolve(base, file)}:{function}", base)
                    loaded.add((file, function))
    mapped = [t.spec for t in (provider_target(p) for p in judges if p) if t.spec]
    return {"kind": PREFIX, "python": python, "model": mapped[0] if mapped else "", "needs_model": needs_model,
            "embedders": embedders}


# ---------------------------------------------------------------- providers
def provider_target(provider: Any) -> Target:
    """A promptfoo provider (``openai:chat:gpt-4o-mini``, a mapping with id
    and config.apiBaseUrl) as reflectloop's model spec where it maps."""
    if isinstance(provider, dict):
        name = str(provider.get("id", ""))
        config = provider.get("config") or {}
    else:
        name, config = str(provider), {}
    kind, _, rest = name.partition(":")
    model = rest.rpartition(":")[2]  # openai:chat:MODEL and openai:MODEL alike
    if kind == "openai" and model:
        base_url = (config.get("apiBaseUrl") or config.get("apiHost")) if isinstance(config, dict) else None
        return Target(name, f"openai:{model}", str(base_url) if base_url else None)
    if kind == "anthropic" and model:
        return Target(name, f"anthropic:{model}")
    return Target(name)


def for_kind(provider: Any, kind: str) -> Any:
    """The provider promptfoo grades with for ``kind`` ("text", "embedding"):
    a mapping with no id may name one per kind."""
    if isinstance(provider, dict) and "id" not in provider and kind in provider:
        return for_kind(provider[kind], kind)
    return provider


def embedder(provider: Any, where: str) -> dict:
    """A similar assertion's own provider as reflectloop's embeddings model
    (``spec``, ``base_url``); one that does not map is refused by name."""
    target = provider_target(for_kind(provider, "embedding"))
    if not target.name.startswith(EMBEDDING_PROVIDERS) or target.spec is None:
        shown = target.name or json.dumps(provider)
        raise TaskError(f"{where}: the similar assertion's provider {shown!r} is not one reflectloop embeds with "
                        f"({' or '.join(p + 'MODEL' for p in EMBEDDING_PROVIDERS)}, with config.apiBaseUrl for an "
                        "OpenAI-compatible server); without a provider it embeds with the judge model (--judge)")
    return {"spec": target.spec, "base_url": target.base_url or ""}


def provider_labels(providers: Any) -> dict:
    """Each mapped provider's spec -> its ``label`` (a python assertion's ``context.provider.label``)."""
    found: dict[str, str] = {}
    for provider in providers if isinstance(providers, list) else [providers] if providers else []:
        target = provider_target(provider)
        if target.spec and isinstance(provider, dict) and isinstance(provider.get("label"), str):
            found.setdefault(target.spec, provider["label"])
    return found


def suite_targets(path: str | Path) -> list[Target]:
    """The suite's providers, each mapped where it can be; [] when it names none."""
    path = Path(path).expanduser()
    config = load_yaml(read_text(path, path.name), path.name)
    providers = config.get("providers") if isinstance(config, dict) else None
    if providers is None:
        return []
    return [provider_target(p) for p in (providers if isinstance(providers, list) else [providers])]


def default_target(task: str, values: dict) -> tuple[dict, list[str]]:
    """The settings a ``promptfoo:`` task adds when ``--target`` is not
    given (its first mappable provider), and notes naming the providers
    that were not taken."""
    prefix, _, rest = task.partition(":")
    if prefix.strip().casefold() != PREFIX or "target" in values:
        return {}, []
    try:
        targets = suite_targets(rest.strip())
    except TaskError:
        return {}, []  # the run reports the suite's problem when it loads it
    usable = [t for t in targets if t.spec]
    notes = [f"the suite's provider {t.name!r} is not one reflectloop runs: pass --target for it" for t in targets
             if not t.spec]
    if not usable:
        return {}, notes
    chosen = usable[0]
    notes += [f"the suite's provider {t.name!r} is not used: reflectloop optimizes for one target ({chosen.name})"
              for t in usable[1:]]
    notes.insert(0, f"the target is the suite's provider {chosen.name!r} ({chosen.spec}); pass --target for another")
    settings = {"target": chosen.spec}
    if chosen.base_url and "target_base_url" not in values:
        settings["target_base_url"] = chosen.base_url
    return settings, notes
