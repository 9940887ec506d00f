"""Read the target model's answer out of its output and score it, under the
reflectloop protocol (below) or the study's (``study_extract``).

The target is asked to answer as JSON ``{"answer": ...}``.  Only an object
with an ``answer`` key counts as following that format; everything else goes
through a chain of fallbacks so a model that ignores the format is still
scored on what it said (the study scores by exact match against any accepted
gold string, and counts format following separately).
"""
from __future__ import annotations

import ast
import json
import re
import string
from typing import Iterator, Sequence

# How a run asks the target and reads its answers: reflectloop's JSON answer
# line with lenient extraction, or the study's released code.
PROTOCOLS = ("reflectloop", "study")

NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
).split()
_WORD_TO_DIGITS = {word: str(n) for n, word in enumerate(NUMBER_WORDS)}

_QUOTES = "\"'`“”‘’"
# Rich/BBCode style tags a model (or a TUI copy-paste) may leave around an answer.
_MARKUP = re.compile(
    r"\[/?(?:bold|b|italic|i|underline|u|dim|reverse|strike|s|red|green|blue|yellow|"
    r"cyan|magenta|white|black|link)(?:[= ][^\]]*)?\]|\[/\]",
    re.IGNORECASE,
)
_ANSWER_LINE = re.compile(r"\banswer\W{0,3}\s*[:=]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_ANSWER_IS = re.compile(r"\banswer\s+(?:is|would be|should be)\s*:?\s*(.+)", re.IGNORECASE)
# Where a fallback answer stops: end of sentence, a clause, or an explanation.
_ANSWER_END = re.compile(r"\.\s|,\s|;|\n|\s+(?:because|since|as)\b", re.IGNORECASE)
_FINAL_PAREN_LETTER = re.compile(r"\(([A-Z])\)[\s.!*]*$")
_FINAL_LONE_LETTER = re.compile(r"(?:^|[\s:*])([A-Z])[.)]?[\s*]*$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER_WORD = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
_INTEGER = re.compile(r"-?\d+")


# ----------------------------------------------------------------- extraction
def extract_answer(output: str, *, numeric: bool = False) -> tuple[str | None, bool]:
    """(answer, followed_format).  ``numeric`` enables the last-number fallback,
    which would only mislead on tasks whose answers are not numbers."""
    if not output or not output.strip():
        return None, False
    found = _last_json_answer(output)
    if found is not None:
        return found[0], True
    return _fallback_answer(_MARKUP.sub("", output), numeric), False


def _last_json_answer(text: str) -> tuple[str | None] | None:
    """The answer of the last object with an ``answer`` key, wrapped in a
    1-tuple so that ``{"answer": null}`` (found, no answer) differs from
    "no object found"."""
    last = None
    for obj in _answer_objects(text):
        last = (_value_to_text(obj["answer"]),)
    return last


def _answer_objects(text: str) -> Iterator[dict]:
    """Every dict with an ``answer`` key, in order of appearance.  An object
    that has the key is taken whole (its nested braces are part of it); one
    that does not is searched inside, so ``{"result": {"answer": 1}}`` counts."""
    pos = text.find("{")
    while pos != -1:
        end = _matching_brace(text, pos)
        obj = _parse_object(text[pos : end + 1]) if end is not None else None
        if end is not None and isinstance(obj, dict) and "answer" in obj:  # obj is None without an end
            yield obj
            pos = text.find("{", end + 1)
        else:
            pos = text.find("{", pos + 1)


def _matching_brace(text: str, start: int) -> int | None:
    """Index of the brace closing the one at ``start``, skipping braces in
    single- or double-quoted strings.  An apostrophe used as one in unquoted
    text (``{answer: it's B}``) never closes, so then quotes are ignored."""
    end = _scan_braces(text, start, quotes="\"'")
    return end if end is not None else _scan_braces(text, start, quotes="")


def _scan_braces(text: str, start: int, quotes: str) -> int | None:
    depth, quote, escaped = 0, None, False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in quotes:
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _parse_object(span: str) -> object | None:
    """Strict JSON first; then, for the malformed objects models write,
    unescaped inner quotes, Python literal syntax (single quotes, trailing
    commas) and unquoted values like ``{"answer": B}``."""
    try:
        return json.loads(span)
    except ValueError:
        pass
    # Before literal_eval: Python would read "Who wrote "U"?" as "Who wrote " u"?".
    last = _LENIENT_LAST_ANSWER.search(span)
    if last and not _ANOTHER_KEY.search(last.group(2)):
        return {"answer": re.sub(r"\\([\"'])", r"\1", last.group(2))}
    try:
        return ast.literal_eval(span)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        pass
    return _lenient_object(span)


# When "answer" is the last key, its value runs to the last quote before the
# closing brace, keeping unescaped inner quotes: {"answer": "Who wrote "Ulysses"?"}
_LENIENT_LAST_ANSWER = re.compile(
    r"""[{,]\s*["']?answer["']?\s*:\s*(["'])(.*)\1\s*}$""", re.IGNORECASE | re.DOTALL
)
_ANOTHER_KEY = re.compile(r"""["']\s*,\s*["']?\w+["']?\s*:""")
_LENIENT_ANSWER = re.compile(
    r"""[{,]\s*["']?answer["']?\s*:\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,}\n]+)""",
    re.IGNORECASE,
)


def _lenient_object(span: str) -> dict | None:
    match = _LENIENT_ANSWER.search(span)
    if not match:
        return None
    raw = match.group(1).strip()
    if raw[:1] in "\"'" and raw[-1:] == raw[:1] and len(raw) >= 2:
        raw = raw[1:-1]
    return {"answer": raw}


def _value_to_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):  # JSON true/false: navigate-style gold lists hold "True"/"False"
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        # A list answer (e.g. sorted words) is compared as its space-joined items.
        return " ".join(str(_value_to_text(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def _fallback_answer(text: str, numeric: bool) -> str | None:
    for find in (_from_answer_line, _from_answer_is, _final_letter):
        answer = find(text)
        if answer:
            return answer
    if numeric:
        answer = _last_number(text)
        if answer:
            return answer
    return _last_line(text)


def _from_answer_line(text: str) -> str | None:
    values = _ANSWER_LINE.findall(text)
    return _clean(_ANSWER_END.split(values[-1])[0]) if values else None


def _from_answer_is(text: str) -> str | None:
    values = _ANSWER_IS.findall(text)
    return _clean(_ANSWER_END.split(values[-1])[0]) if values else None


def _final_letter(text: str) -> str | None:
    tail = text.rstrip()
    match = _FINAL_PAREN_LETTER.search(tail) or _FINAL_LONE_LETTER.search(tail)
    return match.group(1) if match else None


def _last_number(text: str) -> str | None:
    digits = _NUMBER.findall(text)
    if digits:
        return digits[-1]
    words = _NUMBER_WORD.findall(text)
    return words[-1] if words else None


def _last_line(text: str) -> str | None:
    lines = [_clean(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else None


def _clean(value: str) -> str:
    """Strip the decoration a fallback value tends to carry: markdown bold,
    quotes, braces of a broken JSON object, trailing punctuation."""
    value = value.strip().strip("*_`{}" + _QUOTES + " ").strip()
    return value.rstrip(".,;:!").strip().strip(_QUOTES + "*_` ")


# -------------------------------------------------------------- normalization
def normalize(s: str) -> str:
    """Canonical form for exact matching: casefolded, whitespace collapsed,
    quotes and a trailing period removed, "(A)" → "a", "fourteen" → "14",
    "14.0" → "14".  Multi-part answers like "A. True" are kept as they are,
    because the gold lists contain them verbatim."""
    s = " ".join(str(s).split()).casefold()
    s = s.strip(_QUOTES + " ")
    s = s.rstrip(".").rstrip()
    s = s.strip(_QUOTES + " ")
    letter = re.fullmatch(r"\(?([a-z])\)", s) or re.fullmatch(r"\(([a-z])\)?", s)
    if letter:
        return letter.group(1)
    if s in _WORD_TO_DIGITS:
        return _WORD_TO_DIGITS[s]
    number = re.fullmatch(r"(-?\d+)\.0+", s)
    if number:
        return number.group(1)
    return s


def is_correct(answer: str | None, targets: Sequence[str]) -> bool:
    if answer is None:
        return False
    got = normalize(answer)
    return bool(got) and any(got == normalize(t) for t in targets)


def is_numeric(targets: Sequence[str]) -> bool:
    """True when the gold answers are integers (or number words)."""
    return any(_INTEGER.fullmatch(normalize(t)) for t in targets)


def score_output(
    output: str, targets: Sequence[str], *, protocol: str = "reflectloop", truncated: bool = False
) -> tuple[str | None, bool, bool]:
    """(answer, correct, followed_format) of one target output.

    An output cut by max_tokens before it gave its answer object has not
    followed the format, whatever the fallbacks read out of the cut text."""
    answer: str | None
    if protocol == "study":
        answer, followed = study_extract(output)
        correct = study_correct(answer, targets)
    else:
        answer, followed = extract_answer(output, numeric=is_numeric(targets))
        correct = is_correct(answer, targets)
    return answer, correct, followed and not (truncated and not _complete_object(output))


def _complete_object(output: str) -> bool:
    return _last_json_answer(output) is not None


# --------------------------------------------------- the study's extraction
# The study's code (Prompter/evaluation/Evaluator.py, evaluation/utils.py,
# Scorer.py), reimplemented: every non-nested {...} span, curly and single
# quotes made double, parsed as JSON; the last with an "answer" key wins,
# else the raw output is the answer.  Comparison: the first line, the text
# before the first period, lowercased, hyphens as spaces, punctuation
# removed, " and " dropped, compared token by token with any gold answer.
_STUDY_OBJECT = re.compile(r"({.*?})", re.S)
_STUDY_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": '"', "’": '"', "'": '"'})
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def study_extract(output: str) -> tuple[str, bool]:
    """(answer, found an answer object) as the study's evaluator reads them."""
    answer, found = output, False
    for span in _STUDY_OBJECT.findall(output):
        try:
            obj = json.loads(span.translate(_STUDY_QUOTES))
        except ValueError:
            continue
        if isinstance(obj, dict) and "answer" in obj:
            answer, found = str(obj["answer"]), True
    return answer, found


def study_normalize(text: str) -> list[str]:
    text = text.replace(" and ", " ").replace("Sentence 1:", " ").replace("Sentence 2:", " ").strip()
    text = text.split("\n")[0].split(".")[0].lower().replace("-", " ")
    return text.translate(_PUNCTUATION).split()


def study_correct(answer: str | None, targets: Sequence[str]) -> bool:
    if answer is None:
        return False
    got = study_normalize(answer)
    return any(got == study_normalize(t) for t in targets)
