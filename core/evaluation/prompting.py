"""How a prompt meets an example: the target model's messages, per protocol.

``reflectloop`` adds an answer line outside the optimized prompt, so every
prompt is scored the same way and format compliance stays measurable.
``study`` sends what the study's code sends: a system message, the prompt,
then the input under ``## Input`` and an empty ``## Output``; the answer
format comes only from the prompt itself.
A task file replaces both with its message template, with the prompt's text
at its ``{prompt}`` slot and each example's fields at theirs
(``core.metrics.task.FileScorer``).
"""
from __future__ import annotations

from reflectloop.core.types import Example, Message, Prompt

ANSWER_FORMAT = 'Give your final answer as JSON on the last line, like {"answer": "..."}.'
STUDY_SYSTEM = "You are a helpful assistant."
# The study's composed ABO prompt warns the target not to copy the worked
# example's output (our wording of its caution).
DEMONSTRATION_CAUTION = "These examples only show how to think the task through: do not just copy their outputs."


def render_prompt(prompt: Prompt, protocol: str = "reflectloop") -> str:
    """The prompt's full text: the instruction, then its demonstration (ABO)."""
    if not prompt.demonstration:
        return prompt.instruction
    if protocol == "study":
        return f"{prompt.instruction}\n\n#### Examples\n{DEMONSTRATION_CAUTION}\n\n{prompt.demonstration}"
    return f"{prompt.instruction}\n\nExample of following the instruction:\n{prompt.demonstration}"


def target_messages(prompt: Prompt, example: Example, protocol: str = "reflectloop") -> tuple[Message, ...]:
    """The study's tasks' request for one example, as ``protocol`` asks it."""
    if protocol == "study":
        text = f"{render_prompt(prompt, protocol)}\n\n## Input\n{example.input}\n## Output\n"
        return (Message("system", STUDY_SYSTEM), Message("user", text))
    text = f"{render_prompt(prompt)}\n\nInput:\n{example.input}\n\n{ANSWER_FORMAT}"
    return (Message("user", text),)
