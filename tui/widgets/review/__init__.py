"""Review cards: one per proposal, grouped per review request."""
from tui.widgets.review.card import ProposalCard
from tui.widgets.review.group import ReflectPrompt, ReviewGroup

__all__ = ["ProposalCard", "ReflectPrompt", "ReviewGroup"]
