"""Review cards: one per proposal, grouped per review request."""
from tui.widgets.review.card import ProposalCard
from tui.widgets.review.group import ReflectPrompt, ReviewGroup
from tui.widgets.review.pending import PendingReflection

__all__ = ["PendingReflection", "ProposalCard", "ReflectPrompt", "ReviewGroup"]
