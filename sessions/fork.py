"""A new session that starts from step K's beam of another one."""
from __future__ import annotations

from pathlib import Path

from reflectloop.sessions.store import SessionStore


def fork(source: str | Path, step: int, target: str | Path) -> Path:
    """Copy steps 0..K (prompts, evaluations, proposals, decisions, step
    records) into a new session linked to its parent; resuming it continues
    with step K+1 from step K's beam."""
    source, target = Path(source), Path(target)
    with SessionStore.open(source, read_only=True) as src:
        steps = sorted((r for r in src.steps() if r.step <= step), key=lambda r: r.step)
        if not any(r.step == step for r in steps):
            done = max((r.step for r in src.steps()), default=None)
            raise ValueError(f"{source.name} has no step {step} (last completed step: {done})")
        with SessionStore.create(target, src.config, task=src.task, parent=str(source), parent_step=step) as dst:
            copy_steps(src, dst, step)
            decisions = src.decisions()
            for p in src.proposals():
                if p.step <= step:
                    dst.add_proposal(p)
                    if p.id in decisions:
                        dst.add_decision(decisions[p.id])
            dst.set_state({"step": step + 1, "phase": "start", "beam": list(steps[-1].beam)})
    return target


def copy_steps(src: SessionStore, dst: SessionStore, last: int) -> None:
    """The prompts, evaluations and step records of steps 0..``last`` (what a fork
    and an annotation packet both start from; proposals and decisions are theirs to choose)."""
    for p in src.prompts().values():
        if p.step <= last:
            dst.add_prompt(p)
    for step, ev in src.evaluations():
        if step <= last:
            dst.add_evaluation(step, ev)
    for record in src.steps():
        if record.step <= last:
            dst.add_step(record)
