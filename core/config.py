"""Run settings: one typed model, one place for every default.

The study's unified setting (Ma et al., 2024) gives the defaults.  Method
specific defaults (errors sampled, candidates per parent, samples) live in
``METHOD_DEFAULTS``; a value set explicitly in ``RunConfig`` overrides them.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting that is unknown or of the wrong type."""


@dataclass(frozen=True)
class MethodDefaults:
    errors: int  # error examples shown to the optimizer per parent
    per_parent: int  # candidate prompts per parent
    reflects: bool = True  # False: no feedback text (APE, OPRO)


METHOD_DEFAULTS: dict[str, MethodDefaults] = {
    "ape": MethodDefaults(errors=0, per_parent=5, reflects=False),
    "apo": MethodDefaults(errors=4, per_parent=2),
    "apo-sum": MethodDefaults(errors=4, per_parent=2),
    "promptagent": MethodDefaults(errors=4, per_parent=2),
    "opro": MethodDefaults(errors=2, per_parent=5, reflects=False),
    "abo": MethodDefaults(errors=2, per_parent=2),
    "abo-ablation": MethodDefaults(errors=2, per_parent=2),
}


@dataclass(frozen=True)
class RunConfig:
    task: str = "gen:navigate"
    method: str = "apo"
    target: str = "local:smollm2"
    optimizer: str = "local:smollm2"
    target_base_url: str | None = None
    optimizer_base_url: str | None = None
    data_dir: str | None = None
    seed: int = 0
    steps: int = 10  # counts step 0 (the initial prompts): 10 = initial + 9 updates
    beam: int = 5
    dev_size: int = 50
    test_size: int = 200
    init_prompts: int = 10  # initial prompts written by the optimizer
    init_examples: int = 5  # ini examples shown to the optimizer when writing them
    initial_prompts: str | None = None  # "task" (the task's own list) or a JSON file of strings
    errors: int | None = None  # None: the method's default
    per_parent: int | None = None  # None: the method's default
    opro_history: int = 20  # past prompts shown to OPRO
    optimizer_temperature: float = 1.0
    optimizer_top_p: float = 0.9
    optimizer_max_tokens: int = 768
    target_temperature: float = 0.0
    target_max_tokens: int = 256
    concurrency: int | None = None  # None: the provider's own default
    max_cost: float | None = None  # USD; the run stops cleanly when reached
    max_tokens: int | None = None  # total tokens; the run stops cleanly when reached
    cache: bool = True

    def method_defaults(self) -> MethodDefaults:
        return METHOD_DEFAULTS[self.method]

    @property
    def n_errors(self) -> int:
        return self.method_defaults().errors if self.errors is None else self.errors

    @property
    def n_per_parent(self) -> int:
        return self.method_defaults().per_parent if self.per_parent is None else self.per_parent

    def replace(self, **changes: Any) -> RunConfig:
        return from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    known = {f.name: f for f in fields(RunConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)} (known: {', '.join(known)})")
    checked = {k: _check_type(k, v, str(known[k].type)) for k, v in values.items()}
    config = RunConfig(**checked)
    validate(config)
    return config


def validate(config: RunConfig) -> None:
    if config.method not in METHOD_DEFAULTS:
        raise ConfigError(f"unknown method {config.method!r} (known: {', '.join(METHOD_DEFAULTS)})")
    for name in ("steps", "beam", "dev_size", "test_size", "init_prompts", "init_examples"):
        if getattr(config, name) < (0 if name == "test_size" else 1):
            raise ConfigError(f"setting {name!r} must be positive, got {getattr(config, name)}")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Settings from a TOML file: top-level keys, or a ``[run]`` table."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    values = data.get("run", data)
    try:
        from_dict(values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return values
