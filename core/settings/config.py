"""Run settings: one typed model, one place for every default.

The study's unified setting (Ma et al., 2024) gives the defaults.  A method's
own defaults (errors sampled, candidates per parent, samples, whether it
reflects) belong to its class in ``core.methods``, per protocol; a value set
here explicitly overrides them, or is refused by name when the method fixes
it.  ``RunConfig`` holds what every method shares; a method's own settings
are its ``options_class``, kept in ``RunConfig.method_options`` and named
``<method>_<field>`` everywhere a person or a session
gives them: flags, config files, a session's stored config.  Every field
carries a one-line ``help``: the command line's flags are generated from it.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from reflectloop.core.methods import METHODS, PROTOCOLS, MethodFacts, facts_of, method_options
from reflectloop.core.methods.facts import SAMPLINGS, STUDY_SAMPLING
from reflectloop.core.methods.facts import setting as _setting
from reflectloop.core.tasks.registry import SPEC_FORMS

O = TypeVar("O")

SELECTIONS = ("children", "pool")
EVALUATIONS = ("full", "adaptive")
# The beam each protocol selects from when ``selection`` is not set: the
# study's code keeps only the step's new candidates; reflectloop pools them
# with their parents, so the best prompt found is never lost.
DEFAULT_SELECTION = {"study": "children", "reflectloop": "pool"}


class ConfigError(ValueError):
    """A setting that is unknown or of the wrong type."""


def _noted(setting: str) -> str:
    """What the methods do differently with a shared setting, for its help."""
    notes = [cls.notes[setting] for cls in METHODS.values() if setting in cls.__dict__.get("notes", {})]
    return f" ({'; '.join(notes)})" if notes else ""


def _several_per_sample() -> str:
    return ", ".join(cls.__name__ for cls in METHODS.values() if not cls.one_per_sample)


def _default_options() -> tuple[Any, ...]:
    return tuple(kind() for kind in method_options().values())


@dataclass(frozen=True)
class RunConfig:
    task: str = _setting("gen:navigate", f"the task, one of {SPEC_FORMS} (gen: generated data, e.g. gen:navigate)")
    method: str = _setting("apo", f"the optimization method: {', '.join(METHODS)}")
    target: str = _setting("local:smollm2", "the model whose prompt is optimized, as provider:model "
                           "(local:smollm2, openai:gpt-4o-mini, anthropic:claude-3-5-haiku-latest)")
    optimizer: str = _setting("local:smollm2", "the model that reflects and rewrites, as provider:model")
    optimizers: str | None = _setting(None, "a per-method optimizer overriding --optimizer, as "
                                      "METHOD=provider:model pairs, e.g. ape=openai:gpt-3.5-turbo,apo=openai:gpt-4")
    target_base_url: str | None = _setting(None, "an OpenAI-compatible server for the target (vLLM, Ollama, llama.cpp)")
    optimizer_base_url: str | None = _setting(None, "an OpenAI-compatible server for the optimizer")
    judge: str | None = _setting(None, "the model of a task file's LLM judge metric, as provider:model "
                                 "(overrides the metric's own model); it is cached, recorded and costed like the others")
    data_dir: str | None = _setting(None, "the folder of the paper's or BBH data (paper:/bbh: tasks)")
    protocol: str = _setting("reflectloop", "study: the request, extraction, selection and sample counts of the "
                             "study's released code; reflectloop: a JSON answer line and lenient extraction")
    selection: str | None = _setting(None, "the next beam is picked from: children (the step's new candidates "
                                     "only) or pool (parents and children); unset: the protocol's"
                                     + _noted("selection"))
    sampling: str | None = _setting(None, "how --protocol study draws the optimizer's samples: released (one request "
                                    "per parent with n choices, the counts the study's released code runs: n=4, "
                                    "ABO 2) or intended (a request per sample, the counts of the study's arguments: "
                                    f"2 per parent); unset: {STUDY_SAMPLING}")
    seed: int = _setting(0, "the seed of every random draw (errors, samples, ties, splits)")
    steps: int = _setting(10, "steps in total, counting step 0 (the initial prompts)")
    beam: int = _setting(5, "prompts kept after each step")
    dev_size: int = _setting(50, "dev examples every candidate is scored on")
    test_size: int = _setting(200, "test examples the best prompt of each step is scored on")
    init_prompts: int = _setting(10, "initial prompts written by the optimizer")
    init_examples: int = _setting(5, "ini examples shown to the optimizer to write each initial prompt")
    initial_prompts: str | None = _setting(None, "given initial prompts instead: task (the task's own list) "
                                           "or a JSON file of strings")
    errors: int | None = _setting(None, "error examples shown to the optimizer per parent" + _noted("errors")
                                  + "; unset: the method's")
    per_parent: int | None = _setting(None, "candidate prompts per parent per step; unset: the method's")
    samples: int | None = _setting(None, "independent optimizer samples the candidates of a parent are drawn in "
                                   f"({_several_per_sample()}; the other methods draw one per candidate); "
                                   "under --sampling released, the n of a parent's one request; unset: the method's")
    optimizer_temperature: float = _setting(1.0, "the optimizer's sampling temperature")
    optimizer_top_p: float = _setting(0.9, "the optimizer's nucleus sampling top_p")
    optimizer_max_tokens: int | None = _setting(None, "cap on each optimizer answer in tokens; unset: "
                                                "what the provider allows")
    target_temperature: float = _setting(0.0, "the target's sampling temperature")
    target_max_tokens: int | None = _setting(None, "cap on each target answer in tokens; unset: what the provider allows")
    concurrency: int | None = _setting(None, "calls in flight per model; unset: the provider's own default")
    max_cost: float | None = _setting(None, "budget in USD; the run stops cleanly when it is spent")
    max_tokens: int | None = _setting(None, "budget in total tokens; the run stops cleanly when it is spent")
    cache: bool = _setting(True, "replay identical requests from the response cache")
    evaluation: str = _setting("full", "how a step's candidates are scored: full (every candidate on the whole dev "
                               "set, the study's) or adaptive (raced over shared dev examples, the clearly worse "
                               "dropped early; the beam's scores stay full)")
    adaptive_z: float = _setting(1.0, "adaptive evaluation drops a candidate when the beam's worth of others beat "
                                 "it by this many standard deviations (higher: safer, fewer calls saved)")
    max_errored: float = _setting(0.1, "the fraction of an evaluation's examples that may error (a call or the "
                                  "metric failing for good) before its step stops unfinished (exit 4; resume "
                                  "with --session)")
    annotator: str | None = _setting(None, "your name on every decision you make (default: the login name)")
    rubric: str | None = _setting(None, "TOML file of the annotation rubric: the labels each card offers "
                                  "(default: the study's questions)")
    # Each method's own settings, one instance of each registered options class.
    method_options: tuple[Any, ...] = dataclasses.field(default_factory=_default_options, metadata={"method": True})

    def options_of(self, kind: type[O]) -> O:
        """This run's instance of the method settings class ``kind``."""
        for options in self.method_options:
            if type(options) is kind:
                return options
        raise KeyError(f"{kind.__name__} is no method's settings class")

    def method_defaults(self) -> MethodFacts:
        return facts_of(self.method, self.protocol, self.sampling)

    @property
    def n_errors(self) -> int:
        return self.method_defaults().errors if self.errors is None else self.errors

    @property
    def n_per_parent(self) -> int:
        return self.method_defaults().per_parent if self.per_parent is None else self.per_parent

    @property
    def n_samples(self) -> int:
        return self.method_defaults().samples if self.samples is None else self.samples

    @property
    def sampling_mode(self) -> str:
        """released or intended under the study's protocol; intended (a request per sample) otherwise."""
        if self.protocol != "study":
            return "intended"
        return self.sampling or STUDY_SAMPLING

    @property
    def selection_mode(self) -> str:
        return self.selection or DEFAULT_SELECTION[self.protocol]

    @property
    def optimizer_spec(self) -> str:
        """The optimizer spec of this run's method: its entry in ``optimizers``, else ``optimizer``."""
        return optimizer_map(self.optimizers).get(self.method, self.optimizer)

    def replace(self, **changes: Any) -> RunConfig:
        return from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Every setting by its flat name, as flags, config files and sessions give them."""
        return {s.name: s.value(self) for s in SETTINGS}


@dataclass(frozen=True)
class Setting:
    """One setting as a person gives it: a ``RunConfig`` field, or a field of a
    method's settings class (``owner``) named ``<prefix>_<field>``."""

    name: str
    field: dataclasses.Field
    owner: type | None = None  # the method's settings class; None: a shared setting

    @property
    def help(self) -> str:
        return str(self.field.metadata.get("help", "")).strip()

    @property
    def type(self) -> str:
        return str(self.field.type)

    @property
    def default(self) -> Any:
        return self.field.default

    def value(self, config: RunConfig) -> Any:
        source = config if self.owner is None else config.options_of(self.owner)
        return getattr(source, self.field.name)


def _settings() -> tuple[Setting, ...]:
    shared = [Setting(f.name, f) for f in fields(RunConfig) if not f.metadata.get("method")]
    own = [Setting(f"{prefix}_{f.name}", f, kind) for prefix, kind in method_options().items() for f in fields(kind)]
    return (*shared, *own)


# Every setting: the shared ones, then each method's own.
SETTINGS: tuple[Setting, ...] = _settings()


def optimizer_map(value: str | None) -> dict[str, str]:
    """``ape=openai:gpt-3.5-turbo,apo=openai:gpt-4`` as {method: spec}."""
    if not value or not value.strip():
        return {}
    found: dict[str, str] = {}
    for item in value.split(","):
        method, sep, spec = (part.strip() for part in item.partition("="))
        if not sep or not method or not spec:
            raise ConfigError(f"setting 'optimizers': {item.strip()!r} is not METHOD=provider:model")
        if method not in METHODS:
            raise ConfigError(f"setting 'optimizers': unknown method {method!r} (known: {', '.join(METHODS)})")
        if ":" not in spec:
            raise ConfigError(f"setting 'optimizers': {spec!r} for {method} is not a provider:model spec")
        found[method] = spec
    return found


def _check_type(name: str, value: Any, annotation: str) -> Any:
    optional = "None" in annotation
    if value is None:
        if optional:
            return None
        raise ConfigError(f"setting {name!r} may not be empty")
    if "float" in annotation and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    wanted = {"int": int, "float": float, "str": str, "bool": bool}
    base = annotation.replace(" | None", "")
    kind = wanted.get(base)
    if kind is None:
        return value
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"setting {name!r} must be {base}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"setting {name!r} must be {base}, got {value!r}")
    return value


def from_dict(values: dict[str, Any]) -> RunConfig:
    known = {s.name: s for s in SETTINGS}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)} (known: {', '.join(known)})")
    checked = {k: _check_type(k, v, known[k].type) for k, v in values.items()}
    shared = {k: v for k, v in checked.items() if known[k].owner is None}
    options = tuple(
        kind(**{s.field.name: checked[s.name] for s in SETTINGS if s.owner is kind and s.name in checked})
        for kind in method_options().values()
    )
    config = RunConfig(**shared, method_options=options)
    validate(config)
    return config


def from_stored(values: dict[str, Any]) -> RunConfig:
    """A session's stored settings: one stored before ``sampling`` existed ran
    the study's protocol a request per sample, so it goes on that way."""
    if values.get("protocol") == "study" and "sampling" not in values:
        values = {**values, "sampling": "intended"}
    return from_dict(values)


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ConfigError(f"setting {name!r} must be one of {', '.join(allowed)}, got {value!r}")


def validate(config: RunConfig) -> None:
    if config.method not in METHODS:
        raise ConfigError(f"unknown method {config.method!r} (known: {', '.join(METHODS)})")
    _choice("protocol", config.protocol, PROTOCOLS)
    _choice("selection", config.selection, SELECTIONS)
    _choice("sampling", config.sampling, SAMPLINGS)
    if config.sampling is not None and config.protocol != "study":
        raise ConfigError(f"setting 'sampling' chooses between the study's sample counts: it applies with "
                          f"protocol 'study' only, not {config.protocol!r}")
    _choice("evaluation", config.evaluation, EVALUATIONS)
    if config.adaptive_z < 0:
        raise ConfigError(f"setting 'adaptive_z' must not be negative, got {config.adaptive_z}")
    if not 0.0 <= config.max_errored <= 1.0:
        raise ConfigError(f"setting 'max_errored' is a fraction of an evaluation's examples: it must be in [0, 1], "
                          f"got {config.max_errored}")
    optimizer_map(config.optimizers)
    for name in ("steps", "beam", "dev_size", "test_size", "init_prompts", "init_examples"):
        if getattr(config, name) < (0 if name == "test_size" else 1):
            raise ConfigError(f"setting {name!r} must be positive, got {getattr(config, name)}")
    for name in ("per_parent", "samples", "optimizer_max_tokens", "target_max_tokens", "concurrency"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ConfigError(f"setting {name!r} must be positive, got {value}")
    for s in SETTINGS:  # a method's own settings say their least value
        minimum, value = s.field.metadata.get("minimum"), s.value(config)
        if minimum is not None and value is not None and value < minimum:
            least = "positive" if minimum == 1 else f"at least {minimum}"
            raise ConfigError(f"setting {s.name!r} must be {least}, got {value}")
    for name in ("max_cost", "max_tokens"):  # a budget of 0 is no budget, as unset
        value = getattr(config, name)
        if value is not None and value < 0:
            raise ConfigError(f"setting {name!r} (a budget) must not be negative, got {value}")
    if config.errors is not None:
        if config.errors < 0:
            raise ConfigError(f"setting 'errors' must not be negative, got {config.errors}")
        if config.method_defaults().fixes_errors:
            raise ConfigError(f"method {config.method!r} never sees errors: the 'errors' setting is refused for it")
    refusal = METHODS[config.method].refusal(config)
    if refusal is not None:
        raise ConfigError(refusal)


def read_toml(path: str | Path) -> dict[str, Any]:
    """A config file's tables, or a ConfigError that names the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """Settings from a TOML file: top-level keys, or a ``[run]`` table."""
    data = read_toml(path)
    # The [keymap] table belongs to the TUI (tui.keymap), not to a run's settings.
    values = data.get("run", {k: v for k, v in data.items() if k != "keymap"})
    try:
        from_dict(values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return values
