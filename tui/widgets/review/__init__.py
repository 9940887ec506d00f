"""Review cards: one per proposal, grouped per review request."""
from reflectloop.tui.widgets.review.card import ProposalCard
from reflectloop.tui.widgets.review.group import ReflectPrompt, ReviewGroup
from reflectloop.tui.widgets.review.pending import PendingReflection

__all__ = ["PendingReflection", "ProposalCard", "ReflectPrompt", "ReviewGroup"]
