"""The reflection audit: the study's questions asked of a recorded session.

Pure computation on plain data (:class:`AuditData`); loading a session or an
exported annotation set is ``sessions.audit_data``'s job, printing and
rendering the command line's and the TUI's.

* repetitiveness of feedback across error sets (``repetition``) and the
  control that re-asks the optimizer with other errors (``control``);
* grounding of feedback in the errors it was given (``grounding``);
* human vs LLM reflection and their refinements (``human_vs_llm``);
* instruction following and whether revisions change behaviour (``following``);
* paired bootstrap intervals and exact McNemar tests for every score
  comparison (``stats``);
* all of it at once (``audit``) and as tables (``tables``).
"""
from reflectloop.core.analysis.audit import MethodComparison, SessionAudit, audit, compare_methods, curve, final_best
from reflectloop.core.analysis.control import (
    CONDITIONS,
    ControlResult,
    ControlSample,
    control_method,
    error_sets_for,
    run_control,
    session_task,
)
from reflectloop.core.analysis.data import AuditData, Feedback
from reflectloop.core.analysis.following import (
    Following,
    PromptFollowing,
    Revision,
    follows_steps,
    following,
    numbered_steps,
    step_markers,
)
from reflectloop.core.analysis.grounding import FeedbackGrounding, Grounding, ground, grounding
from reflectloop.core.analysis.human_llm import ErrorSetComparison, HumanVsLLM, human_vs_llm
from reflectloop.core.analysis.repetition import Distribution, Repetition, repetition
from reflectloop.core.analysis.stats import (
    Comparison,
    bootstrap_ci,
    compare,
    compare_outcomes,
    mcnemar_exact,
    quantiles,
    text_histogram,
)
from reflectloop.core.analysis.tables import Table, methods_table, render_text, session_tables
from reflectloop.core.analysis.embeddings import EmbeddingSimilarity, embedding_spec, make_similarity
from reflectloop.core.analysis.text import Similarity, TfIdf, TfIdfSimilarity, tfidf_cosine, tokens

__all__ = [
    "CONDITIONS", "AuditData", "Comparison", "ControlResult", "ControlSample", "Distribution", "EmbeddingSimilarity",
    "ErrorSetComparison", "Feedback", "FeedbackGrounding", "Following", "Grounding", "HumanVsLLM",
    "MethodComparison", "PromptFollowing", "Repetition", "Revision", "SessionAudit", "Similarity", "Table", "TfIdf",
    "TfIdfSimilarity", "audit", "bootstrap_ci", "compare", "compare_methods", "compare_outcomes", "control_method",
    "curve", "embedding_spec", "error_sets_for", "final_best", "follows_steps", "following", "ground", "grounding", "human_vs_llm",
    "make_similarity", "mcnemar_exact", "methods_table", "numbered_steps", "quantiles", "render_text", "repetition",
    "run_control", "session_task", "session_tables", "step_markers", "text_histogram", "tfidf_cosine", "tokens",
]
