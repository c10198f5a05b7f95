"""The assistant: opens an index generation and answers questions (the one entry point the CLI,
the web UI and the HTTP API call)."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
from pathlib import Path

from .answering import crossdoc
from .answering.answerer import DocumentAnswerer, TurnCitations, name_score, strip_filler
from .budget.identity import aliases as _aliases
from .budget.identity import organs_named
from .budget.metrics import colloquial_metric, count_units, find_metric
from .catalog import Catalog
from .config import Settings
from .conversations import ConversationContexts, check_conversation_id
from .errors import DuplicateDocumentError, IndexMissingError, QuestionError
from .index import INDEX_VERSION, Generations
from .model import Answer, AnswerPart, Document
from .understanding.intent import parse_intent, split_questions
from .understanding.lexicon import load_lexicon
from .understanding.normalize import normalize_question

log = logging.getLogger(__name__)

_BUDGET_WORDS = re.compile(
    r"预算|决算|经费|支出|收入|费|资金|拨款|采购|项目|绩效|科目|三公|万元|元|部门|单位|资产|车|人员|工资|"
    r"指标|公积金|保险|财政|收支|合计|总计|结转|结余|budget|expend|spend|revenue|cost", re.I)

_ORG = re.compile(r"[\u4e00-\u9fff]{2,16}?(?:省|市|区|县|州)[\u4e00-\u9fff]{0,10}?(?:局|厅|委员会|办公室|街道办事处|"
                  r"街道|管理委员会|中心)")

OUT_OF_SCOPE = ("这个问题与已载入的预算公开文件无关。可以问例如：“项目支出占比多少？”、“三公经费是多少？”、"
                "“什么是机关运行经费？”、“哪个项目的预算最多？”")


class Assistant:
    """Answers questions over one index generation.

    Build with :meth:`open`. ``ask`` is thread-safe for distinct conversations; each conversation
    id keeps its own context (subject, last set of items, operation). ``generation`` is the id of the
    index generation served; ``ask`` and ``documents`` switch to a newer published one (written by
    another process or worker) within :attr:`REFRESH_SECONDS`.

    Startup reads only the document list; each document's facts, passages and tables are read
    from the fact store when a question first needs that document (see :class:`Catalog`), and a
    question naming a department is scoped to it before any document is read, so the cost of such
    a question does not grow with the number of documents.
    """

    #: most documents answered separately in one answer; a question naming no department or year
    #: over more documents gets a request to narrow it down instead of a list of hundreds of parts
    MAX_DOCUMENTS_PER_ANSWER = 20

    #: how often (seconds) ``ask``/``documents`` look for a newer published generation
    REFRESH_SECONDS = 2.0

    def __init__(self, settings: Settings, generation: str, generations: Generations | None = None):
        from .store.backends import open_fact_store

        self.settings = settings
        self.generations = generations or Generations(settings)
        self.generation = generation
        self.store = open_fact_store(settings, generation)
        self._checked = time.monotonic()
        self.lexicon = load_lexicon()
        self._retriever = None
        self._lock = threading.Lock()
        # contexts by conversation id, bounded in count and estimated memory (least recently used go)
        self._conversations = ConversationContexts(settings.max_conversations, settings.conversation_mb * 1024 * 1024)
        self._retired = None
        self._retired_vectors = None
        self.catalog = Catalog(self.store, self.lexicon, retriever=_LazyRetriever(self))

    @classmethod
    def open(cls, settings: Settings, build_if_missing: bool = True, progress=None) -> "Assistant":
        """Open the published index; build it from ``settings.corpus_dir`` first if missing.

        Raises IndexMissingError when there is no index and ``build_if_missing`` is False.
        """
        gens = Generations(settings)
        gen = gens.current()
        if gen is not None and gens.version(gen) != INDEX_VERSION:
            gen = cls._rebuild(settings, gens, gen, progress)
        if gen is None:
            if not build_if_missing:
                raise IndexMissingError(f"索引不存在：{settings.index_dir}（先运行 budget-qa ingest）")
            from .ingest import ingest
            from .uploads import uploads_dir

            sources = [settings.corpus_dir] + ([uploads_dir(settings)] if any(uploads_dir(settings).glob("*.*")) else [])
            ingest(sources, settings, progress=progress, if_missing=True)
            gen = gens.current()
        return cls(settings, gen, gens)

    def reload(self) -> None:
        """Switch to the index generation published last (after an ingest); conversations are kept."""
        from .store.backends import open_fact_store

        gen = self.generations.current()
        with self._lock:
            self._checked = time.monotonic()
            if gen is None or gen == self.generation:
                return
            store = open_fact_store(self.settings, gen)
            catalog = Catalog(store, self.lexicon, retriever=_LazyRetriever(self))
            # the store replaced last time is closed now: a question still running on it has ended
            if self._retired is not None:
                self._retired.close()
            if self._retired_vectors is not None:  # chromadb keeps every directory's client until closed
                self._retired_vectors.close()
            self._retired = self.store
            self._retired_vectors = getattr(self._retriever, "vectors", None)
            self.generation, self.store, self._retriever, self.catalog = gen, store, None, catalog
            log.info("now serving index generation %s", gen)

    def _refresh(self) -> None:
        """Reload when another process published a generation (checked every REFRESH_SECONDS)."""
        if time.monotonic() - self._checked < self.REFRESH_SECONDS:
            return
        try:
            self.reload()
        except Exception:  # keep serving the generation we have; try again later
            self._checked = time.monotonic()
            log.exception("could not check for a newer index generation")

    def add_document(self, name: str, data: bytes, progress=None, switch_lock=None):
        """Check, keep (``data/uploads``) and ingest an uploaded disclosure, then serve it.

        Parsing (in a child process, under the ingest limits) and writing the new index generation
        hold no lock of the assistant: questions are answered from the published generation
        meanwhile. Only the switch to the new generation holds ``switch_lock`` (the lock the callers
        of :meth:`ask` hold, e.g. the web's ASK_LOCK), for a moment. Several uploads at once each land
        (the ingests take turns on the index; each starts from the generation the previous one
        published).

        Returns the ingest summary of the document (tables, facts, passages, warnings). Raises
        IngestError with a Chinese message, leaving the index unchanged, for a rejected file, and
        DuplicateDocumentError when its bytes are those of a document already loaded.
        """
        from .ingest import ingest, release_memory
        from .uploads import check_upload, store_upload

        check_upload(self.settings, name, len(data))
        sha = hashlib.sha256(data).hexdigest()
        same = next((d for d in self.catalog.docs if d.sha256 == sha), None)
        if same is not None:
            raise DuplicateDocumentError(same.doc_id, same.title, name)
        path = store_upload(self.settings, name, data)
        try:
            report = ingest([path], self.settings, progress=progress)
        except Exception:
            path.unlink(missing_ok=True)
            raise
        finally:
            release_memory()
        if not report.documents:  # another upload of the same bytes landed first
            path.unlink(missing_ok=True)
            dup = report.duplicates[0]
            raise DuplicateDocumentError(dup.doc_id, dup.title, name)
        with switch_lock if switch_lock is not None else contextlib.nullcontext():
            self.reload()
        return report.documents[0]

    @property
    def feedback(self):
        """The feedback store in the application database (``data/app.sqlite``, or PostgreSQL when
        ``BUDGET_QA_DATABASE_URL`` is set: then every worker sees every worker's feedback)."""
        from .feedback import open_feedback

        if getattr(self, "_feedback", None) is None:
            self._feedback = open_feedback(self.settings)
        return self._feedback

    def table_view(self, table_id: str) -> dict | None:
        """A table rebuilt from its facts for display: {"table_id", "doc_id", "title", "unit", "line",
        "page", "columns": [header path text per column index], "column_index": [col_index…],
        "rows": [{"line", "label", "code", "cells": {col_index: value_text}}]} (None if unknown)."""
        table = self.store.table(table_id)
        if table is None:
            return None
        facts = [f for f in self.catalog.answerer(table.doc_id).facts if f.table_id == table_id]
        cols: dict[int, str] = {}
        rows: dict[int, dict] = {}
        for f in facts:
            cols.setdefault(f.col_index, " > ".join(f.col_path) or "指标值")
            row = rows.setdefault(f.row_index, {"line": f.line, "label": f.label or ("合计" if f.is_total_row else ""),
                                                "code": f.code, "row_path": list(f.row_path), "cells": {}})
            row["cells"][f.col_index] = f.value_text
        order = sorted(cols)
        return {"table_id": table_id, "doc_id": table.doc_id, "title": table.title, "unit": table.unit,
                "line": table.line, "page": table.page, "columns": [cols[c] for c in order], "column_index": order,
                "rows": [rows[k] for k in sorted(rows)], "note": table.note}

    def passage_view(self, doc_id: str, line: int, quote: str = "") -> dict | None:
        """The section around a cited line: {"doc_id", "section", "paragraphs": [{"line", "text"}],
        "line"} with the paragraphs of the cited one's section (None if unknown). ``quote`` picks
        the passage among several on one line (a web page flattened onto one line)."""
        passages = self.store.passages([doc_id])
        on_line = [p for p in passages if p.line == line]
        hit = next((p for p in on_line if quote and quote[:30] in p.text), None) or (on_line[0] if on_line else None) \
            or next((p for p in reversed(passages) if p.line <= line), None)
        if hit is None:
            return None
        same = [p for p in passages if p.section_path == hit.section_path and p.kind == hit.kind]
        return {"doc_id": doc_id, "section": " > ".join(hit.section_path), "line": hit.line,
                "paragraphs": [{"line": p.line, "text": p.text} for p in same]}

    @staticmethod
    def _rebuild(settings: Settings, gens: Generations, gen: str, progress) -> str | None:
        """Re-ingest the documents of an index built by an older version (their recorded paths)."""
        from .ingest import ingest
        from .store.backends import open_fact_store

        store = open_fact_store(settings, gen)
        paths = [Path(d.path) for d in store.documents()]
        store.close()
        missing = [str(p) for p in paths if not p.is_file()]
        if missing or not paths:
            raise IndexMissingError(f"索引由旧版本生成，且原文件已不在：{'、'.join(missing) or '（无文档）'}；"
                                    f"请重新运行 budget-qa ingest")
        log.warning("index built by an older version; re-ingesting %d documents", len(paths))
        # a fresh generation from the documents alone (the old one is replaced when it is published)
        ingest(paths, settings, progress=progress, fresh=True)
        if gens.current() != gen:
            gens.discard(gen)
        return gens.current()

    @property
    def retriever(self):
        """The hybrid (Chroma + BM25) retriever, created on first use."""
        with self._lock:
            if self._retriever is None:
                from .answering.retrieve import HybridRetriever
                from .embedding import make_embedder
                from .store.backends import open_vector_store
                from .store.lexical import STATS_BLOB, BM25Index, BM25Stats, ScopedBM25Index

                vectors = open_vector_store(self.settings, self.generation, make_embedder(self.settings.embedder))
                jieba_dir = self.settings.data_dir / "cache" / "jieba"
                stats = self.generations.load_blob(self.generation, STATS_BLOB)
                if stats is not None:
                    lexical = ScopedBM25Index(BM25Stats.loads(stats.decode("utf-8"), f"{self.generation}/{STATS_BLOB}"),
                                              self.catalog.passages, jieba_dir=jieba_dir)
                else:  # a generation written before the statistics existed: the whole BM25 index
                    data = self.generations.load_blob(self.generation, "bm25.json")
                    if data is None:
                        raise IndexMissingError(f"No lexical index in generation {self.generation}. "
                                                "Build the index with 'budget-qa ingest'.")
                    lexical = BM25Index(jieba_dir=jieba_dir).loads(data.decode("utf-8"), f"{self.generation}/bm25.json")
                self._retriever = HybridRetriever(vectors, lexical)
            return self._retriever

    # ------------------------------------------------------------------ public API
    def documents(self) -> list[Document]:
        """The loaded documents, ordered by doc_id."""
        self._refresh()
        return list(self.catalog.docs)

    #: with more documents than this, example questions are tried on the first ones only
    EXAMPLE_DOCUMENTS = 20

    def example_questions(self, limit: int = 6) -> list[str]:
        """Questions the loaded documents answer (candidates are tried; unanswerable ones dropped)."""
        candidates = ["项目支出占比多少？", "三公经费是多少？", "什么是机关运行经费？", "哪个项目的预算最多？",
                      "三公经费构成", "机关运行经费比上年减少了多少？", "政府采购预算是多少？", "共有多少辆车？"]
        docs = self.documents()
        if len(docs) > 1:
            candidates = [f"{d.department}{d.year or ''}年三公经费是多少？" for d in docs[:3]] + candidates
        # with many documents, the generic candidates are tried on the first few (answering one
        # per document would take minutes at server start)
        scope = [d.doc_id for d in docs[:self.EXAMPLE_DOCUMENTS]] if len(docs) > self.EXAMPLE_DOCUMENTS else None
        out = []
        for q in candidates:
            try:
                if self.ask(q, scope=scope).kind not in ("not_found", "out_of_scope"):
                    out.append(q)
            except Exception:  # an example that fails is simply not offered
                log.exception("example question failed: %s", q)
            if len(out) >= limit:
                break
        return out

    def ask(self, question: str, conversation: str | None = None, scope: list[str] | None = None) -> Answer:
        """Answer one turn. ``conversation`` ids share context between turns; ``scope`` restricts
        to doc_ids. Raises QuestionError for an empty or overlong question, and for a conversation id
        over ``settings.max_conversation_chars`` characters or holding control characters."""
        if conversation:
            check_conversation_id(conversation, self.settings.max_conversation_chars)
        try:
            return self._ask(question, conversation, scope)
        finally:
            if conversation:
                self._conversations.measure(conversation)

    def _ask(self, question: str, conversation: str | None, scope: list[str] | None) -> Answer:
        raw = question or ""
        if not raw.strip():
            raise QuestionError("问题为空，请输入要查询的内容，例如“项目支出占比多少？”")
        if len(raw) > self.settings.max_question_chars:
            raise QuestionError(f"问题过长（{len(raw)} 字），请精简到 {self.settings.max_question_chars} 字以内。")
        self._refresh()
        ctx = self._context(conversation) if conversation else {}
        text = normalize_question(raw)
        if re.search(r"[A-Za-z]{3,}", text):
            # "… in 2023?": a bare year is the year asked about
            text = re.sub(r"(?<![\d年])((?:19|20)\d{2})(?![\d年])", r"\1年", text)
            text = self.lexicon.translate_english(text)
        catalog = self.catalog
        if scope is None:
            docs = catalog.docs
        else:
            wanted = set(scope)
            docs = [d for d in catalog.docs if d.doc_id in wanted]
        if not docs:
            return Answer.combine(raw, [AnswerPart(raw, "未找到：当前范围内没有已载入的文档。", "not_found")])
        if ctx.get("cross") and len(docs) > 1:
            text = crossdoc.follow_up(text, *ctx["cross"])  # "那2024年呢？", "按部门排个序"
        foreign = self._foreign_department(text, docs, catalog) if len(docs) > 1 else ""
        if foreign:  # a body not loaded: never another body's figure
            return Answer.combine(raw, [AnswerPart(raw, f"未找到：已载入的文件中没有“{foreign}”的预算公开文件，"
                                                        f"无法回答它的数字。", "not_found")])
        cross = crossdoc.plan(text, docs, catalog.name_index(docs)) if len(docs) > 1 else None
        if cross is not None:  # one figure from each of several documents, combined
            reg = TurnCitations()
            part = crossdoc.answer(cross, raw, catalog, reg)
            ctx["docs"] = [d.doc_id for d in cross.groups]
            ctx["cross"] = (text, cross.item)
            ctx["subject"] = cross.item
            return Answer.combine(raw, [part])
        ctx.pop("cross", None)
        named_text = text  # before scoping removes the names it recognised
        docs, text = self._scope_by_question(text, docs, ctx, catalog)
        foreign = self._foreign_department(named_text, docs, catalog)
        if foreign:
            return Answer.combine(raw, [AnswerPart(raw, f"未找到：已载入的文件中没有“{foreign}”的预算公开文件，"
                                                        f"无法回答它的数字。", "not_found")])
        if len(docs) > self.MAX_DOCUMENTS_PER_ANSWER and _BUDGET_WORDS.search(text):
            # one part per document would be an unreadable list (and slow): ask to narrow it down
            example = f"{docs[0].department}{docs[0].year or ''}年{strip_filler(text)[:12]}是多少？"
            return Answer.combine(raw, [AnswerPart(
                raw, f"未找到：这个问题没有指明部门或年份，而范围内有 {len(docs)} 份文件（一次最多分别回答 "
                     f"{self.MAX_DOCUMENTS_PER_ANSWER} 份）。请加上部门名称或年份再问，例如“{example}”，"
                     f"或在页面的“文件范围”中选择文件。", "not_found")])
        reg = TurnCitations()
        parts: list[AnswerPart] = []
        previous: list[AnswerPart] = []
        previous_sub = ""
        for sub in split_questions(text):
            answered = self._answer_sub(sub, docs, ctx, reg, catalog)
            if _SAME_ASKED.search(sub) and previous:
                _compare_with_previous(previous, answered)
            elif previous and _BUDGET_OF_SPENT.search(sub) and _SPENT.search(previous_sub):
                # "…花了多少？全年预算是多少？": the share of the budget that was spent, too
                _compare_with_previous(previous, answered, rate=True)
            parts.extend(answered)
            previous, previous_sub = answered, sub
        if len(parts) > 1 and all(p.kind == "out_of_scope" for p in parts):
            parts = parts[:1]  # one note is enough when nothing in the turn is about a budget
        return Answer.combine(raw, parts)

    # ------------------------------------------------------------------ optional chat model (assistant.llm)
    @property
    def chat_model(self):
        """The chat model set by ``BUDGET_QA_LLM_*``, created once on first use; None if none is set."""
        from .llm import chat_model_for

        return chat_model_for(self)

    def ask_fluent(self, question: str, conversation: str | None = None, scope: list[str] | None = None
                   ) -> tuple[Answer, str]:
        """:meth:`ask`, then the chat model phrases the answer under the figure guard: (answer, note).
        Without a configured model: exactly ``ask()`` and ""."""
        from .llm import phrase_for

        return phrase_for(self, self.ask(question, conversation, scope))

    def ask_fluent_stream(self, question: str, conversation: str | None = None, scope: list[str] | None = None):
        """Streaming :meth:`ask_fluent`: yields draft text chunks, then one (answer, note) tuple."""
        from .llm import phrase_stream_for

        return phrase_stream_for(self, self.ask(question, conversation, scope))

    # ------------------------------------------------------------------ internals
    def _context(self, conversation: str) -> dict:
        return self._conversations.get(conversation)

    def _scope_by_question(self, text: str, docs: list[Document], ctx: dict, catalog: Catalog
                           ) -> tuple[list[Document], str]:
        """Documents the question names, and the question with the naming words removed.

        A department is recognised by its full name, or by the character bigrams of its name that
        no other document in scope shares (so 石泉路街道 or 生态环境局 pick one document, while a
        district name common to several does not; see :meth:`NameIndex.named`); a year picks the
        documents of that year. With no naming, a follow-up keeps the previous turn's documents.
        Nothing is read from the fact store here.
        """
        chosen = docs
        narrowed = False
        if len(docs) > 1:
            index = catalog.name_index(docs)
            named = index.named(text)
            if named:
                chosen, narrowed = named, True
                alias = index.alias_in(text)
                if alias and any(alias in _aliases(d.department) for d in named):
                    text = text.replace(alias, "")
                for d in named:
                    text = _strip_name(text, d.department)
        scope = re.search(r"(部门|单位)(?:的)?(?:预算|决算)", text)
        if scope and len(chosen) > 1:
            same = [d for d in chosen if d.scope == scope.group(1)]
            if same:
                chosen, narrowed = same, True
        text = re.sub(r"(?:部门|单位)(?:的)?(?=预算|决算)", "", text)  # the kind chose documents, not an item
        years = [int(y) for y in re.findall(r"(20\d{2})\s*年", text)]
        compared = [int(y) for y in re.findall(r"(?:比|较|与|和|同|相比)\s*(20\d{2})\s*年", text)]
        if [y for y in years if y not in compared]:
            years = [y for y in years if y not in compared]  # "2025年…比2024年": the 2025 document
        if years and len(chosen) > 1:
            by_year = [d for d in chosen if d.year in years]
            if not narrowed and ctx.get("docs"):
                # "那2024年呢？" after a question about one body: that body's documents of that year
                bodies = {d.department for d in docs if d.doc_id in set(ctx["docs"])}
                by_year = [d for d in by_year if d.department in bodies] or by_year
            if by_year:
                chosen, narrowed = by_year, True
        if not narrowed and len(docs) > 1 and ctx.get("docs"):
            prev = set(ctx["docs"])
            chosen = [d for d in docs if d.doc_id in prev] or chosen
        ctx["docs"] = [d.doc_id for d in chosen]
        return chosen, text

    def _foreign_department(self, text: str, docs: list[Document], catalog: Catalog) -> str:
        """An organisation named in the question that none of the documents in scope is about and
        none mentions (北京市财政局 when only a 济源 document is loaded); "" if there is none."""
        names = [m.group(0) for m in _ORG.finditer(text)] + organs_named(text)
        known = {a for d in docs for a in _aliases(d.department)}
        for org in dict.fromkeys(names):
            if org in known or any(a in org for a in known if len(a) >= 3):
                continue  # a loaded body, by a name people use (区府办, 万里街道, 社工部)
            if any(_names_department(org, d.department) for d in docs):
                continue
            if any(org in a.text() for a in catalog.answerers(d.doc_id for d in docs)):
                continue
            return org
        return ""

    def _answer_sub(self, sub: str, docs: list[Document], ctx: dict, reg: TurnCitations, catalog: Catalog
                    ) -> list[AnswerPart]:
        """Parts answering one sub-question: one, or one per document when several answer."""
        ids = [d.doc_id for d in docs]
        vocab = catalog.vocabulary(ids)
        if not strip_filler(_without_ops(sub)):
            everyday = colloquial_metric(sub)
            if everyday is not None:  # "一共花了多少钱": the total of the budget model
                sub = f"{everyday.name}是多少"
        # a modelled count (几辆公车) is read from its own sentences; the lexicon's 公车 (a cost) would mislead
        expanded = sub if parse_intent(sub).measure in count_units() else self.lexicon.expand(sub, vocab)
        intent = parse_intent(expanded)
        if intent.table_named:
            # a question about a named table goes to the documents that have or list that table
            having = [a.doc.doc_id for a in catalog.answerers(ids) if a.has_table(intent.table_named)]
            ids = having or ids
        subject = expanded
        item_text = strip_filler(_without_ops(expanded))
        mentions = find_metric(item_text) is not None or any(_mentions(catalog.labels(d), item_text) for d in ids)
        if _MEASURE_ONLY_ITEM.match(item_text) and not ctx.get("subject") and re.fullmatch(r"(?:预算|决算)数?", item_text):
            # "万里街道2025年预算是多少": the document's total (支出总计) at that measure
            expanded = expanded.replace(item_text, "支出总计" + item_text, 1)
            intent = parse_intent(expanded)
            subject, item_text = expanded, strip_filler(_without_ops(expanded))
        if _MEASURE_ONLY_ITEM.match(item_text):
            if not ctx.get("subject"):  # "全年预算数是多少" alone: of which item? never a guess
                return [AnswerPart(sub, f"未找到：问题没有说明是哪一项的{item_text}，请加上项目名称，"
                                        f"例如“一般公共预算支出{item_text}是多少？”。", "not_found")]
            mentions = False  # "全年预算是多少" after "行政运行花了多少": the same item's other measure
        if not mentions and ctx.get("subject") and _continues(sub, intent):
            subject = ctx["subject"] + " " + expanded
            intent.follow_up = True
        if intent.follow_up and not intent.explicit_op and ctx.get("op") in ("share", "change"):
            intent.op = ctx["op"]
        results: list[tuple[DocumentAnswerer, AnswerPart]] = []
        for a in catalog.answerers(ids):
            part = a.answer(intent, subject, reg, ctx)
            if part is not None:
                results.append((a, part))
        ctx["op"] = intent.op
        found = [(a, p) for a, p in results if p.kind != "not_found"]
        if not found:
            if results:
                return [results[0][1]]
            if intent.op in ("max", "min", "rank", "list"):
                return [AnswerPart(sub, "未找到可比较的一组数字：请说明范围，例如“项目支出中哪个项目最多？”。", "not_found")]
            if not mentions and not _BUDGET_WORDS.search(sub):
                return [AnswerPart(sub, OUT_OF_SCOPE, "out_of_scope")]
            return [AnswerPart(sub, "未找到：已载入的文档中没有与这个问题对应的数字或说明。", "not_found")]
        if len(found) == 1:
            return [found[0][1]]
        # several documents answer: one part each, labelled with its document
        for a, p in found:
            p.answer = f"【{a.doc.label}】{p.answer}"
        return [p for _, p in found]


#: words by which a turn without an item of its own asks about the previous one (多少？ 去年呢？ 为什么？)
_ASKS_ABOUT_FIGURES = re.compile(r"多少|几|哪|为什么|原因|\d{4}\s*年|去年|上年|今年|占|比例|比重|变化|增减")


#: an item text that names only a measure (全年预算, 年初预算数, 决算), no item of its own
_MEASURE_ONLY_ITEM = re.compile(r"^(?:全年|年初|调整后?的?|当年|本年)?(?:预算|决算|执行)(?:数)?$")

#: "…和三公经费里的公务接待费一样吗": the question compares its figure with the previous question's
_SAME_ASKED = re.compile(r"(?:一样|相同|一致|相等)(?:吗|么|不|否)|是否(?:一样|相同|一致|相等)|是不是(?:一样|同一)")


#: a question for a budget figure only (全年预算是多少), and one for what was spent (花了多少, 决算数)
_BUDGET_OF_SPENT = re.compile(r"^(?:那|其)?(?:全年|年初|调整后?的?)?预算(?:数)?(?:是|为|有)?(?:多少|几)")
_SPENT = re.compile(r"花了|花费|实际|决算|支出了|用了")


def _compare_with_previous(previous: list[AnswerPart], answered: list[AnswerPart], rate: bool = False) -> None:
    """Append to each answered part whether its figure equals the previous question's figure of the
    same document (amounts compared in one unit, the conversion shown); with ``rate``, the previous
    figure (spent) as a share of this one (the budget) instead."""
    from .answering import compute

    def figure(p: AnswerPart):
        for r in p.facts:
            if r.unit in compute.UNIT_FACTORS and r.source != "计算":
                try:
                    return r, compute.dec(r.value.replace(",", ""))
                except ArithmeticError:
                    return None
        return None

    before = {f[0].doc_id: f for f in map(figure, previous) if f}
    for p in answered:
        now = figure(p)
        if not now or now[0].doc_id not in before:
            continue
        (a, av), (b, bv) = before[now[0].doc_id], now
        bv_in_a = compute.convert(bv, b.unit, a.unit)
        if rate:
            if bv_in_a:
                pct = compute.fmt(compute.share(av, bv_in_a), 2)
                p.answer += f"完成预算的 {pct}%（{a.value} ÷ {b.value} × 100% = {pct}%）。"
                p.formula = p.formula or f"{a.value} ÷ {b.value} × 100% = {pct}%"
            continue
        shown = f"{b.value} {b.unit}" + (f"（= {compute.fmt(bv_in_a, 2)} {a.unit}）" if b.unit != a.unit else "")
        if bv_in_a == av:
            p.answer += f"两者一样：{a.label} {a.value} {a.unit}，{b.label} {shown}。"
        else:
            p.answer += (f"两者不一样：{a.label} {a.value} {a.unit}，{b.label} {shown}"
                         f"（相差 {compute.fmt(abs(av - bv_in_a), 2)} {a.unit}）。")


def _continues(sub: str, intent) -> bool:
    """True if a turn that names no item of its own can be a follow-up of the previous turn (那…呢,
    其中…, 去年呢, 第二大的是哪个); greetings and requests from outside budgets (你好, 写一首诗,
    今天天气怎么样) are not, so they never repeat the previous answer."""
    return bool(intent.follow_up or intent.explicit_op or _BUDGET_WORDS.search(sub) or _ASKS_ABOUT_FIGURES.search(sub))


def _without_ops(text: str) -> str:
    return re.sub(r"第.{1,2}(大|多|高|少|小|低)|最(多|大|高|少|小|低)|哪个|哪项|哪一项|主要用于|用于|用途|"
                  r"为什么|原因|是什么|什么|含义|占|比例|比重|去年|上年|今年", "", text)


def _mentions(labels, item_text: str) -> bool:
    if len(item_text) < 2:
        return False
    return any(name_score(item_text, l) >= 2 for l in labels)


class _LazyRetriever:
    """Defers building the hybrid retriever (Chroma, embedder, BM25) until a passage question."""

    def __init__(self, assistant: Assistant):
        self._assistant = assistant

    def search(self, query, k=5, doc_ids=None, kinds=None):
        return self._assistant.retriever.search(query, k=k, doc_ids=doc_ids, kinds=kinds)


def _names_department(org: str, department: str) -> bool:
    """True if ``org`` (an organisation named in a question) can be ``department``: they share a part
    of 3+ characters and every pair of characters left over also occurs in the department's name
    (平潭经济发展局 → 平潭综合实验区经济发展局), so a sibling organisation of the same place
    (上海市普陀区教育局 vs 上海市普陀区生态环境局) or the same organ of another place (南湖区财政局 vs
    西城区财政局) is not."""
    rest = _strip_name(org, department)
    if rest == org:
        return False
    rest = re.sub(r"^[\u4e00-\u9fff]{1,5}?[省市](?=[\u4e00-\u9fff]|$)", "", rest)  # a province or city prefix
    return all(rest[i:i + 2] in department for i in range(len(rest) - 1))


def _strip_name(text: str, name: str) -> str:
    """Remove from the question the parts (3+ characters) it shares with a department name."""
    from difflib import SequenceMatcher

    while True:
        m = SequenceMatcher(None, text, name, autojunk=False).find_longest_match(0, len(text), 0, len(name))
        if m.size < 3:
            return text
        text = text[:m.a] + text[m.a + m.size:]
