"""How a prompt meets an example: the target model's messages."""
from __future__ import annotations

from core.types import Example, Message, Prompt

# Kept outside the optimized prompt so every prompt is scored the same way and
# format compliance (did the target answer as JSON?) stays measurable.
ANSWER_FORMAT = 'Give your final answer as JSON on the last line, like {"answer": "..."}.'


def render_prompt(prompt: Prompt) -> str:
    """The prompt's full text: the instruction, then its demonstration (ABO)."""
    if not prompt.demonstration:
        return prompt.instruction
    return f"{prompt.instruction}\n\nExample of following the instruction:\n{prompt.demonstration}"


def target_messages(prompt: Prompt, example: Example) -> tuple[Message, ...]:
    text = f"{render_prompt(prompt)}\n\nInput:\n{example.input}\n\n{ANSWER_FORMAT}"
    return (Message("user", text),)
