"""What an optimizer answered and how it is read: drafts, replies, and the
tags (``<START>…<END>``, ``<INS>…</INS>``) its proposals are parsed from.
Output that cannot be parsed is a draft with its parse error, never dropped."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from reflectloop.core.types import Completion


@dataclass(frozen=True)
class Draft:
    """One proposal as the optimizer wrote it, before the loop gives it an id."""

    text: str
    raw: str
    parse_error: str | None = None
    truncated: bool = False  # the optimizer's output was cut by max_tokens
    errors_left_out: int = 0  # the last errors of its context, not shown so the request fits


@dataclass(frozen=True)
class Reply:
    """The optimizer's answer to a request as it was fitted, or why it was not answered."""

    completion: Completion | None
    errors_left_out: int = 0
    failure: str | None = None  # set when the request could not fit the context

    @property
    def text(self) -> str:
        return self.completion.text if self.completion is not None else ""

    @property
    def truncated(self) -> bool:
        return self.completion is not None and self.completion.truncated

    def failed(self) -> Draft:
        """The draft standing for an unanswered request: no text, its cause."""
        return Draft("", "", f"not answered: {self.failure}", errors_left_out=self.errors_left_out)

    def marked(self, drafts: list[Draft]) -> list[Draft]:
        return [replace(d, errors_left_out=self.errors_left_out) for d in drafts] if self.errors_left_out else drafts


_TAGS = {"START": ("<START>", "<END>"), "INS": ("<INS>", "</INS>")}


def parse_tagged(raw: str, tag: str = "START", *, truncated: bool = False) -> list[Draft]:
    """Every ``<START>…<END>`` span of the output, as drafts.

    Output without tags is kept whole as one draft marked with a parse error,
    so the reviewer sees it and the session records it.  An opened but never
    closed last tag (a reply cut at max_tokens) still yields its text; a cut
    reply marks every draft ``truncated``."""
    opener, closer = _TAGS[tag]
    spans = re.findall(re.escape(opener) + r"(.*?)" + re.escape(closer), raw, re.S)
    texts = [s.strip() for s in spans if s.strip()]
    tail = raw.rsplit(closer, 1)[-1] if spans else raw
    if opener in tail:
        rest = tail.split(opener, 1)[1].strip()
        if rest:
            texts.append(rest)
    if texts:
        return [Draft(t, raw, truncated=truncated) for t in texts]
    if not raw.strip():
        return [Draft("", raw, "the optimizer returned nothing", truncated)]
    # Small optimizers often ignore the tags: keep the whole output, flagged,
    # so the reviewer decides whether it is usable.
    return [Draft(raw.strip(), raw, f"no {opener}…{closer} tags: the whole output was taken", truncated)]


def parse_reply(reply: Reply, tag: str = "START") -> list[Draft]:
    if reply.failure is not None:
        return [reply.failed()]
    return reply.marked(parse_tagged(reply.text, tag, truncated=reply.truncated))


def parse_at_most(reply: Reply, n: int, tag: str = "START") -> list[Draft]:
    """The first n tagged spans; untagged output stays one flagged draft."""
    drafts = parse_reply(reply, tag)
    return drafts if drafts[0].parse_error else drafts[:n]


# A span the optimizer numbered ("Instruction 2: Be brief."), as the study's
# extract_instruction unwraps it (Prompter/utils.py:87-112).
_NUMBERED = re.compile(r"\s*instruction\s*\d+\s*:\s*", re.I)


def unwrap_numbered(text: str) -> str:
    """The text after a leading "Instruction N:"; the text itself when there is none
    (or nothing follows it, so a draft is never emptied by the unwrapping)."""
    match = _NUMBERED.match(text)
    rest = text[match.end():].strip() if match else ""
    return rest or text


def parse_study(reply: Reply, tag: str = "START") -> list[Draft]:
    """The study's parsing: every tagged span kept, each numbered one unwrapped."""
    drafts = parse_reply(reply, tag)
    if drafts[0].parse_error:
        return drafts
    return [replace(d, text=unwrap_numbered(d.text)) for d in drafts]


def parse_spans(reply: Reply, n: int, protocol: str, tag: str = "START") -> list[Draft]:
    """A reply's spans as ``protocol`` reads them: under ``study`` every one
    (unwrapped), otherwise the first n."""
    return parse_study(reply, tag) if protocol == "study" else parse_at_most(reply, n, tag)


def whole(reply: Reply, wanted: str = "<START>") -> Draft:
    """The whole output, tags removed, as one draft (a reflection that is
    read as a whole); flagged when it lacks the ``wanted`` marker."""
    if reply.failure is not None:
        return reply.failed()
    text = untag(reply.text)
    error = None
    if not text:
        error = "the optimizer returned nothing"
    elif wanted not in reply.text:
        error = f"no {wanted} tag: the whole output was taken"
    return Draft(text, reply.text, error, reply.truncated, reply.errors_left_out)


def untag(raw: str) -> str:
    """The text with the tag markers removed (for whole-text feedback)."""
    for opener, closer in _TAGS.values():
        raw = raw.replace(opener, "").replace(closer, "")
    return raw.strip()
