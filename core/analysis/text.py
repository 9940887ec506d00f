"""Text similarity for the audit: tokens, stop words, TF-IDF cosine, and the
interface the embedding backend (``core.analysis.embeddings``) shares.

TF-IDF here is the textbook one, written out so nothing beyond the standard
library is needed: raw term counts times a smoothed inverse document
frequency ``ln((1 + N) / (1 + df)) + 1`` (never zero, so a term found in every
text still counts), each vector L2-normalised, cosine = dot product.  The IDF
is fitted on the texts being compared, so "common" means common in this
session's feedback.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Protocol, Sequence

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

# English function words, plus the words every reflection template itself
# uses, so that neither makes two texts look alike.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
    either etc few for from further get gets got had hadn't has hasn't have haven't having he her here hers herself
    him himself his how i if in into is isn't it it's its itself just let let's like may me might more most must
    mustn't my myself no nor not now of off on once only or other ought our ours ourselves out over own per same
    shan't she should shouldn't so some such than that that's the their theirs them themselves then there there's
    these they they're this those through thus to too under until up upon us very via was wasn't we we're were
    weren't what what's when where which while who whom whose why will with within without won't would wouldn't
    yes you your yours yourself yourselves s t d ll m re ve e g eg ie i.e
    """.split()
)


def tokens(text: str, *, keep_stop_words: bool = False) -> list[str]:
    """Lower-cased word tokens (letters and digits; apostrophes inside words
    kept), stop words dropped unless ``keep_stop_words``."""
    found = [t.casefold().replace("’", "'") for t in _TOKEN.findall(text or "")]
    return found if keep_stop_words else [t for t in found if t not in STOP_WORDS]


class Similarity(Protocol):
    """Anything that turns texts into a matrix of pairwise similarities in [0, 1]."""

    name: str

    def matrix(self, texts: Sequence[str]) -> list[list[float]]: ...

    def close(self) -> None:
        """Release what the backend holds (connections, threads)."""


def _norm(vector: dict[str, float]) -> float:
    return math.sqrt(sum(v * v for v in vector.values()))


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


class TfIdf:
    """Fitted on a corpus; ``vector(text)`` uses that corpus's IDF."""

    name = "tfidf"

    def __init__(self, corpus: Sequence[str] = ()):
        self.fit(corpus)

    def fit(self, corpus: Sequence[str]) -> TfIdf:
        docs = [set(tokens(t)) for t in corpus]
        self.n_docs = len(docs)
        df: Counter[str] = Counter()
        for d in docs:
            df.update(d)
        self.df = df
        return self

    def idf(self, term: str) -> float:
        return math.log((1 + self.n_docs) / (1 + self.df.get(term, 0))) + 1.0

    def vector(self, text: str) -> dict[str, float]:
        counts = Counter(tokens(text))
        raw = {t: c * self.idf(t) for t, c in counts.items()}
        n = _norm(raw)
        return {t: v / n for t, v in raw.items()} if n else {}

    def cosine(self, a: str, b: str) -> float:
        return cosine_vectors(self.vector(a), self.vector(b))


def cosine_vectors(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two L2-normalised sparse vectors; 0.0 when either is empty."""
    if not a or not b:
        return 0.0
    return max(0.0, min(1.0, _dot(a, b)))


class TfIdfSimilarity:
    """The default backend: the IDF is fitted on exactly the texts compared."""

    name = "tfidf"

    def matrix(self, texts: Sequence[str]) -> list[list[float]]:
        model = TfIdf(texts)
        vectors = [model.vector(t) for t in texts]
        n = len(texts)
        out = [[0.0] * n for _ in range(n)]
        for i in range(n):
            out[i][i] = 1.0 if vectors[i] else 0.0
            for j in range(i + 1, n):
                out[i][j] = out[j][i] = cosine_vectors(vectors[i], vectors[j])
        return out

    def close(self) -> None:
        pass  # computed locally: nothing held


def tfidf_cosine(a: str, b: str, corpus: Sequence[str] | None = None) -> float:
    """Cosine of two texts with the IDF of ``corpus`` (default: the two texts)."""
    return TfIdf(corpus if corpus is not None else (a, b)).cosine(a, b)
