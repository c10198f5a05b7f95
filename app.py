"""Start the web chat page: ``python app.py [--host H] [--port P] [--index DIR]``.

Paths not given on the command line come from the ``BUDGET_QA_*`` environment variables (see
``assistant/config.py``). The index is built from the corpus on first start if it is missing.
"""
from __future__ import annotations

import argparse
import logging
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before anything can import gradio

from assistant.config import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, build the settings and serve the page until interrupted."""
    parser = argparse.ArgumentParser(description="预算公开问答 — web chat page")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    parser.add_argument("--index", default=None, help="index folder (default: BUDGET_QA_INDEX or index/)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env().with_(index_dir=args.index)

    from assistant.cli import run_reporting_errors
    from assistant.web.ui import launch

    run_reporting_errors(lambda: launch(settings, host=args.host, port=args.port), settings)


if __name__ == "__main__":
    main()
