"""A task file (TOML) for a person's own prompt → ``TaskSpec``.

    name = "tickets"                       # optional; default the file's stem
    description = "Route support tickets"  # optional
    prompts = ["You route tickets ..."]    # optional starting prompts
    prompt_files = ["prompt.txt"]          # optional, relative to the task file

    [data]      path = "tickets.jsonl" (or spec = "bbh:snarks"), format, inputs = [...],
                target, split, id, target_separator
    [messages]  system = "{prompt}", user = "Subject: {subject}\\n{body}",
                [[messages.few_shot]] user = "...", assistant = "..."
    [output]    kind = raw | answer | label | json | regex, and its options
    [metric]    kind = exact | contains | regex | numeric | label | token_f1 |
                json_fields | python | judge, its options, threshold

Every table refuses unknown keys, listing the known ones.  A data spec
without ``[messages]`` takes the study's QA shape, answered as JSON and
scored by exact match, so today's tasks are task files too.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, overload

from reflectloop.core.metrics import METRICS, MetricError, Scorer, TaskExample, build_contract, build_metric
from reflectloop.core.metrics.scorer import DEFAULT_THRESHOLD
from reflectloop.core.evaluation.prompting import ANSWER_FORMAT, STUDY_SYSTEM
from reflectloop.core.evaluation.scoring import normalize
from reflectloop.core.tasks.base import TaskError
from reflectloop.core.tasks.taskdata import (
    FORMATS,
    SPEC_FIELD,
    SPEC_TARGET,
    DataSource,
    SpecLoader,
    read_examples,
    spec_examples,
    split_examples,
)
from reflectloop.core.tasks.template import PROMPT_SLOT, MessageTemplate, TemplateError, slots
from reflectloop.core.types import Message

TOP_KEYS = ("name", "description", "prompts", "prompt_files", "data", "messages", "output", "metric")
DATA_KEYS = ("path", "spec", "format", "inputs", "target", "split", "id", "target_separator")
MESSAGE_KEYS = ("system", "user", "few_shot")
FEW_SHOT_KEYS = ("user", "assistant")
# The study's QA shape (the reflectloop protocol's target request), for a data spec with no [messages].
QA_USER = "{prompt}\n\nInput:\n{input}\n\n" + ANSWER_FORMAT.replace("{", "{{").replace("}", "}}")
QA_TEMPLATE = MessageTemplate(user=QA_USER)
# The study protocol's target request (core.evaluation.prompting), as a template.
STUDY_TEMPLATE = MessageTemplate(user="{prompt}\n\n## Input\n{input}\n## Output\n", system=STUDY_SYSTEM)
QA_OUTPUT, QA_METRIC = {"kind": "answer"}, {"kind": "exact"}
# Metrics that compare with a gold answer, so the data must name a target column.
NEEDS_TARGET = ("exact", "study_exact", "contains", "numeric", "label", "token_f1", "json_fields")


@dataclass(frozen=True)
class TaskSpec:
    path: Path
    name: str
    description: str
    source: DataSource
    template: MessageTemplate
    scorer: Scorer
    prompts: tuple[str, ...] = ()  # starting prompts; the optimizer writes them when empty
    examples: tuple[TaskExample, ...] = ()  # every row of a data file; () for a data spec
    warnings: tuple[str, ...] = ()
    # What a session stores of the file (``core.tasks.stored``): its text, the
    # [output] and [metric] tables as applied (defaults filled in), and the
    # prompt files it read.
    text: str = field(default="", repr=False)
    output_table: dict = field(default_factory=dict, repr=False, compare=False)
    metric_table: dict = field(default_factory=dict, repr=False, compare=False)
    prompt_paths: tuple[Path, ...] = ()
    other_paths: tuple[Path, ...] = ()  # other files read (a promptfoo suite's tests and Python assertions)

    @property
    def spec(self) -> str:
        return f"file:{self.path}"

    def messages(self, prompt: str, example: TaskExample) -> tuple[Message, ...]:
        return self.template.render(prompt, example.fields)

    def splits(
        self, *, seed: int, ini_size: int, dev_size: int, test_size: int, data_dir=None,
        load_spec: SpecLoader | None = None,
    ):
        """ini/dev/test examples: the data's split column, else the seeded split;
        for a data spec, the splits of that task as ``load_spec`` loads it."""
        sizes = dict(seed=seed, ini_size=ini_size, dev_size=dev_size, test_size=test_size)
        if self.source.spec is None:
            return split_examples(self.examples, label=self.source.label, **sizes)
        if load_spec is None:
            raise TypeError(f"{self.path.name}: its data is the task {self.source.spec!r}: "
                            "pass load_spec (core.tasks.load_task) to load it")
        return spec_examples(load_spec(self.source.spec, data_dir=data_dir, **sizes))


def load_task_file(path: str | Path) -> TaskSpec:
    """Parse and check a task file and read its data; every problem is a
    TaskError naming the file (and the table, slot, row) at fault."""
    path = Path(path).expanduser()
    text = _read_text(path)
    try:
        return dataclasses.replace(_build(path, _parse(text, path)), text=text)
    except (MetricError, TemplateError) as exc:
        raise TaskError(f"{path.name}: {exc}") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskError(f"{path.name}: task file not found ({path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path.name}: cannot read: {exc}") from None


def _parse(text: str, path: Path) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{path.name}: not valid TOML: {exc}") from None


def _build(path: Path, table: dict) -> TaskSpec:
    where = path.name
    check_keys(table, TOP_KEYS, where, "the task file")
    base = path.parent
    source = _source(_table(table, "data", where, required=True), base, where)
    qa = source.spec is not None and "messages" not in table
    template = QA_TEMPLATE if qa else _template(_table(table, "messages", where, required=True), where)
    metric_table = _table(table, "metric", where) or (QA_METRIC if qa else {"kind": "exact"})
    output_table = _table(table, "output", where) or (QA_OUTPUT if qa else {})
    scorer = build_scorer(output_table, metric_table, base)
    warnings = _check_slots(template, source, where)
    if scorer.metric.kind in NEEDS_TARGET and source.target is None:
        raise TaskError(
            f"{where}: the {scorer.metric.kind} metric compares with a gold answer: name its column as [data] target"
        )
    examples = read_examples(source) if source.path is not None else ()
    _check_targets(examples, scorer, where)
    prompts, prompt_paths = _prompts(table, base, where)
    return TaskSpec(
        path=path,
        name=_text(table, "name", where) or path.stem,
        description=_text(table, "description", where),
        source=source,
        template=template,
        scorer=scorer,
        prompts=prompts,
        examples=examples,
        warnings=tuple(warnings),
        output_table=dict(output_table),
        metric_table=dict(metric_table),
        prompt_paths=prompt_paths,
    )


# ------------------------------------------------------------------- tables
def check_keys(table: Mapping[str, Any], known: tuple[str, ...], where: str, what: str) -> None:
    unknown = [k for k in table if k not in known]
    if unknown:
        raise TaskError(f"{where}: unknown key {unknown[0]!r} in {what} (known: {', '.join(known)})")


@overload
def _table(table: dict, name: str, where: str, *, required: Literal[True]) -> dict: ...
@overload
def _table(table: dict, name: str, where: str, *, required: bool = False) -> dict | None: ...
def _table(table: dict, name: str, where: str, *, required: bool = False) -> dict | None:
    value = table.get(name)
    if value is None:
        if required:
            raise TaskError(f"{where}: missing table [{name}]")
        return None
    if not isinstance(value, dict):
        raise TaskError(f"{where}: {name} must be a table ([{name}]), got {type(value).__name__}")
    return value


def _text(table: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise TaskError(f"{where}: {key} must be a string, got {value!r}")
    if required and not value.strip():
        raise TaskError(f"{where}: missing {key}")
    return value


def _names(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TaskError(f"{where}: {key} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


# --------------------------------------------------------------------- data
def _source(data: dict, base: Path, where: str) -> DataSource:
    check_keys(data, DATA_KEYS, where, "[data]")
    columns = {k: _text(data, k, where) or None for k in ("target", "split", "id")}
    separator = _text(data, "target_separator", where)
    if ("path" in data) == ("spec" in data):
        raise TaskError(f"{where}: [data] needs either path (a JSONL, CSV or Parquet file) or spec (e.g. bbh:snarks)")
    if "spec" in data:
        return _spec_source(data, columns, where)
    path = Path(_text(data, "path", where, required=True)).expanduser()
    path = path if path.is_absolute() else base / path
    fmt = _text(data, "format", where) or path.suffix.lstrip(".").casefold()
    if fmt not in FORMATS:
        raise TaskError(
            f"{where}: [data] format {fmt!r} is not one of {', '.join(FORMATS)}"
            " (set format, or name the file .jsonl, .csv or .parquet)"
        )
    inputs = _names(data, "inputs", where)
    if not inputs:
        raise TaskError(f"{where}: [data] inputs must name the input columns, e.g. inputs = [\"question\"]")
    return DataSource(inputs=inputs, path=path, format=fmt, target_separator=separator, **columns)


def _spec_source(data: dict, columns: dict, where: str) -> DataSource:
    """A task spec's examples have the one field ``input`` and a target."""
    for key in ("format", "split", "id", "target_separator"):
        if key in data:
            raise TaskError(f"{where}: [data] {key} applies to a data file, not to spec")
    inputs = _names(data, "inputs", where) or (SPEC_FIELD,)
    if inputs != (SPEC_FIELD,) or (columns["target"] or SPEC_TARGET) != SPEC_TARGET:
        raise TaskError(f"{where}: a [data] spec has the field {SPEC_FIELD!r} and the target {SPEC_TARGET!r} only")
    return DataSource(inputs=inputs, target=SPEC_TARGET, spec=_text(data, "spec", where, required=True))


# ----------------------------------------------------------------- messages
def _template(messages: dict, where: str) -> MessageTemplate:
    check_keys(messages, MESSAGE_KEYS, where, "[messages]")
    system = _text(messages, "system", where) or None
    user = _text(messages, "user", where)
    if not user.strip():
        raise TaskError(f"{where}: [messages] needs a user template (the target model answers a user message)")
    few_shot = messages.get("few_shot", [])
    if not isinstance(few_shot, list):
        raise TaskError(f"{where}: [messages] few_shot must be a list of {{user, assistant}} tables")
    shots = tuple(_shot(s, i, where) for i, s in enumerate(few_shot, 1))
    return MessageTemplate(user=user, system=system, few_shot=shots)


def _shot(shot: Any, number: int, where: str) -> tuple[str, str]:
    label = f"few_shot example {number}"
    if not isinstance(shot, dict):
        raise TaskError(f"{where}: {label} must be a table with user and assistant")
    check_keys(shot, FEW_SHOT_KEYS, where, label)
    user, assistant = (_text(shot, role, f"{where}: {label}", required=True) for role in FEW_SHOT_KEYS)
    return user, assistant


def _check_slots(template: MessageTemplate, source: DataSource, where: str) -> list[str]:
    """A slot no field fills is an error; a field no slot shows is a warning."""
    for part, text in template.parts():
        for slot in slots(text, part):
            if slot != PROMPT_SLOT and slot not in source.inputs:
                raise TaskError(
                    f"{where}: the {part} template has the slot {{{slot}}}, but no input field {slot!r}"
                    f" (inputs: {', '.join(source.inputs)})"
                )
    unused = [f for f in source.inputs if f not in template.fields]
    return [f"{where}: the input field {f!r} is used by no template" for f in unused]


# ---------------------------------------------------------- output, metric
def build_scorer(output: Mapping[str, Any], metric: Mapping[str, Any], base: Path,
                 kinds: Mapping[str, type] = METRICS) -> Scorer:
    """The [output] and [metric] tables as a Scorer; relative files (a
    metric module, a schema file) are found from ``base``; ``kinds``: the
    metrics the source may name (a promptfoo suite's are its own)."""
    metric = dict(metric)
    threshold = metric.pop("threshold", DEFAULT_THRESHOLD)
    contract = build_contract(output, base_dir=str(base))
    built = build_metric(metric, base_dir=str(base), kinds=kinds)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise MetricError(f"[metric] threshold must be a number in (0, 1], got {threshold!r}")
    return Scorer(contract, built, float(threshold))


def _check_targets(examples: tuple[TaskExample, ...], scorer: Scorer, where: str) -> None:
    """What the metric needs of every gold answer, checked before a run spends calls."""
    kind = scorer.metric.kind
    for ex in examples:
        if kind == "json_fields" and not isinstance(ex.target, dict):
            raise TaskError(
                f"{where}: example {ex.id!r}: the json_fields metric needs a JSON object target, got {ex.target!r}"
            )
        labels = getattr(scorer.contract, "labels", None)
        if kind == "label" and labels and ex.targets and normalize(ex.targets[0]) not in map(normalize, labels):
            raise TaskError(
                f"{where}: example {ex.id!r}: gold label {ex.targets[0]!r}"
                f" is not one of the output labels: {', '.join(labels)}"
            )


# ------------------------------------------------------------------ prompts
def _prompts(table: dict, base: Path, where: str) -> tuple[tuple[str, ...], tuple[Path, ...]]:
    """The starting prompts, and the prompt files they were read from."""
    prompts, paths = list(_names(table, "prompts", where)), []
    for name in _names(table, "prompt_files", where):
        path = Path(name).expanduser()
        path = path if path.is_absolute() else base / path
        paths.append(path)
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise TaskError(f"{where}: prompt file {name!r} not found ({path})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TaskError(f"{where}: cannot read prompt file {name!r}: {exc}") from None
        if not text:
            raise TaskError(f"{where}: prompt file {name!r} is empty")
        prompts.append(text)
    return tuple(dict.fromkeys(prompts)), tuple(paths)
