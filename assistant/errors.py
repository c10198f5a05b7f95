"""The few domain exceptions; the CLI, web UI and API translate them into plain messages."""


class BudgetQAError(Exception):
    """Base class: ``str(err)`` is a complete message for the user, saying what to do."""


class IngestError(BudgetQAError):
    """A document could not be read or parsed; the previous index is left as it was."""


class DuplicateDocumentError(IngestError):
    """The file's bytes are those of a document already loaded (same SHA-256 under another name).
    ``doc_id`` and ``title`` name that document; nothing was changed."""

    def __init__(self, doc_id: str, title: str, name: str):
        self.doc_id, self.title, self.name = doc_id, title, name
        super().__init__(f"{name} 与已入库的文件“{title}”（{doc_id}）内容相同，未重复入库")


class IndexMissingError(BudgetQAError):
    """No index exists at the configured location (run ``budget-qa ingest``)."""


class QuestionError(BudgetQAError):
    """The question cannot be processed (empty, too long)."""


class ConfigError(BudgetQAError):
    """A setting (``BUDGET_QA_*``) is unusable, or a server it names cannot be reached."""
