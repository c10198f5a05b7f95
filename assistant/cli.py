"""Command line: ``budget-qa ingest | ask | serve``. Parses input, calls the core, prints output;
domain errors become one-line messages on stderr with exit code 2."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from .config import Settings
from .errors import BudgetQAError

app = typer.Typer(add_completion=False, help="预算公开问答：对部门预算/决算公开文件给出带出处的准确回答。")


def _settings(index: Optional[Path]) -> Settings:
    return Settings.from_env().with_(index_dir=index)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@app.command()
def ingest(paths: list[Path] = typer.Argument(None, help="文档或文件夹（默认 corpus/）"),
           index: Optional[Path] = typer.Option(None, "--index", help="索引目录（默认 index/）")) -> None:
    """Parse documents into the index (facts, passages, embeddings)."""
    from .ingest import ingest as run

    s = _settings(index)
    report = run(paths or [s.corpus_dir], s, progress=_progress)
    for d in report.documents:
        warn = f"  警告：{'；'.join(d.warnings)}" if d.warnings else ""
        unaligned = f", {d.unaligned} 个未对齐单元格" if d.unaligned else ""
        print(f"{d.doc_id}: {d.tables} 张表, {d.facts} 个数字, {d.passages} 个段落{unaligned}{warn}")
        for cell in getattr(d, "unaligned_cells", []):
            print(f"  未对齐：{cell}")
        sums = getattr(d, "arithmetic", [])
        if sums:
            print(f"  表内加总不符 {len(sums)} 处：")
            for line in sums:
                print(f"    {line}")
    for dup in report.duplicates:
        print(f"跳过：{dup.message()}")
    if not report.documents:
        print("索引未改变：没有新的文件")
    elif s.database_url or s.chroma_url:
        from .store.backends import describe

        print(f"索引已更新（{describe(s)}）")
    else:
        print(f"索引已更新：{s.index_dir}")


@app.command()
def ask(question: Optional[str] = typer.Argument(None, help="问题；省略时从标准输入逐行读取"),
        json_out: bool = typer.Option(False, "--json", help="每行输出一个 JSON 对象"),
        index: Optional[Path] = typer.Option(None, "--index", help="索引目录")) -> None:
    """Answer a question, or one question per stdin line (batch mode)."""
    from .engine import Assistant

    s = _settings(index)
    assistant = Assistant.open(s, build_if_missing=True, progress=_progress)
    lines = [question] if question is not None else (l.rstrip("\n") for l in sys.stdin)
    for line in lines:
        conv, q = None, line
        stripped = (line or "").strip()
        if stripped.startswith("{"):
            try:
                obj = json.loads(stripped)
                conv, q = obj.get("conversation"), obj.get("question", "")
                conv = None if conv is None else str(conv)
            except (json.JSONDecodeError, AttributeError):
                pass
        try:
            ans = assistant.ask(q, conversation=conv)
            out = ans.to_dict()
        except BudgetQAError as exc:
            out = {"question": q, "answer": str(exc), "kind": "not_found", "facts": [], "citations": [],
                   "formula": "", "chart": None, "parts": []}
        if json_out:
            print(json.dumps(out, ensure_ascii=False), flush=True)
        else:
            print(out["answer"])
            for i, c in enumerate(out["citations"], start=1):
                where = f"第{c['page']}页" if c.get("page") else f"第{c['line']}行"
                print(f"  [{i}] {c['doc_title']} · {c['locator']}（{where}）：{c['quote'][:120]}")
            print(flush=True)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(7860, "--port"),
          index: Optional[Path] = typer.Option(None, "--index")) -> None:
    """Start the Gradio chat (builds the index first if missing). Prints one line per start-up stage
    with the seconds elapsed, and "budget-qa: 聊天页面已就绪：<url>" once the page is served."""
    from .web.ui import launch

    start = time.monotonic()

    def stage(msg: str) -> None:
        _progress(f"budget-qa: [{time.monotonic() - start:4.0f} s] {msg}")

    launch(_settings(index), host=host, port=port, progress=stage)


@app.command()
def check(paths: list[Path] = typer.Argument(..., help="文档或文件夹（.txt/.pdf）"),
          json_out: bool = typer.Option(False, "--json", help="每个文档输出一行 JSON")) -> None:
    """Consistency report per document: totals vs parts, one item differing between two tables or a
    table and the text, stated shares vs their amounts, listed or required tables that are absent,
    and the inspector's wording rules (see assistant/check_rules.py).
    With --json: one object per document and line, {"doc_id", "title", "path", "findings": [{"kind",
    "category", "message", "citations": [{"locator", "line", "page"}]}]}.
    Exit code 0 when clean, 1 with findings, 2 when a path cannot be read."""
    from .check import check_document
    from .ingest import collect_files, unique_doc_ids
    from .parsing.document import parse_file

    def where(citation) -> str:
        locator, line, page = citation
        pos = (f"第{page}页" if page else "") + (f"第{line}行" if line else "")
        return f"{locator} {pos}".strip()

    files: list[Path] = []
    errors = findings = 0
    for p in paths:
        try:
            files.extend(f for f in collect_files([p]) if f not in files)
        except BudgetQAError as exc:
            print(f"错误：{exc}", file=sys.stderr)
            errors += 1
    ids = unique_doc_ids(files)
    for f in files:
        try:
            parsed = parse_file(f, ids[f])
            found = check_document(parsed)
        except BudgetQAError as exc:
            print(f"错误：{exc}", file=sys.stderr)
            errors += 1
            continue
        except Exception as exc:  # a bug on one document must not hide the others' reports
            logging.getLogger(__name__).exception("check failed for %s", f)
            print(f"错误：检查 {f.name} 时出错（{type(exc).__name__}: {exc}）", file=sys.stderr)
            errors += 1
            continue
        if json_out:
            print(json.dumps({"doc_id": parsed.document.doc_id, "title": parsed.document.title,
                              "path": str(f), "findings": [x.to_dict() for x in found]}, ensure_ascii=False))
        else:
            print(f"== {parsed.document.title} ({parsed.document.doc_id})")
            for x in found:
                print(f"[{x.kind}] {x.message} | 出处：" + " ↔ ".join(where(c) for c in x.citations))
        findings += len(found)
    sys.stdout.flush()
    raise typer.Exit(2 if errors else 1 if findings else 0)


@app.command("eval")
def evaluate(gold: list[Path] = typer.Argument(..., help="金标准文件（.jsonl，格式同 ../shared/eval）"),
             index: Optional[Path] = typer.Option(None, "--index", help="索引目录"),
             baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                           help="同时评测朴素 LangChain RAG 基线（同一嵌入模型、同一批文档）")) -> None:
    """Grade gold files: per-kind accuracy, every failure (expected vs given), and the baseline
    side by side. Exit code 1 when any case fails."""
    from .embedding import make_embedder
    from .engine import Assistant
    from .evaluation import LangChainBaseline, load_gold, run_assistant, run_baseline, summary_table, three_way

    s = _settings(index)
    assistant = Assistant.open(s, build_if_missing=True, progress=_progress)
    failed = 0
    base_model = None
    for path in gold:
        cases = load_gold(path)
        ours = run_assistant(assistant, cases)
        rows = None
        if baseline:
            if base_model is None:
                paths = [Path(d.path) for d in assistant.documents() if Path(d.path).is_file()]
                base_model = LangChainBaseline(paths, make_embedder(s.embedder))
            rows = run_baseline(base_model, cases)
        print(f"## {path.name}: {sum(r.passed for r in ours)} passed, {sum(not r.passed for r in ours)} failed")
        print(f"three-way: {three_way(ours)}")
        print(summary_table(ours, rows))
        for r in ours:
            if not r.passed:
                failed += 1
                print(f"{'WRONG' if r.outcome == 'wrong' else 'FAIL'} {r.case_id} {r.question} -> "
                      f"{'; '.join(r.reasons)} | got: {r.answer[:160]!r}")
        print()
    raise typer.Exit(1 if failed else 0)


def run_reporting_errors(run, settings) -> None:
    """Call ``run()``; a domain error (BudgetQAError) or an unreachable server backend (PostgreSQL,
    Chroma server: see :func:`assistant.store.backends.backend_error`) becomes one line
    "错误：…" on stderr and exit code 2, never a traceback. Shared by the CLI and ``app.py``."""
    from .store.backends import backend_error, check_database_url

    try:
        check_database_url(settings.database_url)
        run()
    except BudgetQAError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:
        err = backend_error(exc, settings)
        if err is None:
            raise
        logging.getLogger(__name__).debug("backend failure", exc_info=exc)
        print(f"错误：{err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from .config import Settings

    run_reporting_errors(app, Settings.from_env())


if __name__ == "__main__":
    main()
