"""Start the web chat page: ``python app.py [--host H] [--port P] [--index DIR]``.

Paths not given on the command line come from the ``BUDGET_QA_*`` environment variables (see
``assistant/config.py``). The index is built from the corpus on first start if it is missing.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

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

    from assistant.errors import BudgetQAError
    from assistant.store.backends import backend_error, check_database_url
    from assistant.web.ui import launch

    try:
        check_database_url(settings.database_url)
        launch(settings, host=args.host, port=args.port)
    except BudgetQAError as exc:  # a setting or the index: one clear line, exit code 2
        print(f"错误：{exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:
        err = backend_error(exc, settings)
        if err is None:
            raise
        print(f"错误：{err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
