"""reflectloop: LLM prompt optimization with a human in the loop.

Installed as one name: ``reflectloop.core`` (the engine), ``reflectloop.sessions``
(persistence and the service layer) and ``reflectloop.tui`` (the Textual app and
the command line).  The three folders stay at the top of the checkout;
``pyproject.toml`` maps them under this package."""
