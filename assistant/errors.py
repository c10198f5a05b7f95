"""The few domain exceptions; the CLI, web UI and API translate them into plain messages."""


class BudgetQAError(Exception):
    """Base class: ``str(err)`` is a complete message for the user, saying what to do."""


class IngestError(BudgetQAError):
    """A document could not be read or parsed; the previous index is left as it was."""


class IndexMissingError(BudgetQAError):
    """No index exists at the configured location (run ``budget-qa ingest``)."""


class QuestionError(BudgetQAError):
    """The question cannot be processed (empty, too long)."""


class ConfigError(BudgetQAError):
    """A setting (``BUDGET_QA_*``) is unusable, or a server it names cannot be reached."""
