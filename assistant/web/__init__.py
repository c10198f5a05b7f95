"""Web chat page (Gradio) for the budget assistant.

Importing this package turns Gradio's telemetry off (``GRADIO_ANALYTICS_ENABLED=False``) before
anything here imports :mod:`gradio`; :mod:`assistant.web.ui` imports Gradio only when a page is
built or launched, so the formatting helpers can be used and tested without it.
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
