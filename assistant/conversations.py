"""Conversation contexts kept between turns: bounded in number and in memory, least recently used
forgotten first.

A context is the dict :meth:`assistant.engine.Assistant.ask` shares between the turns of one
conversation id (subject, documents in scope, last operation, …). Ids come from clients (the HTTP
API, CLI batch files), so they are checked (:func:`check_conversation_id`) before anything is kept
under them; the contexts are bounded by count and by an estimate of their size, measured after each
turn (:meth:`ConversationContexts.measure`).
"""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict

from .errors import QuestionError


def conversation_id_problem(conversation: str, max_chars: int) -> str:
    """"" if ``conversation`` is a usable id, else the Chinese message saying what is wrong:
    longer than ``max_chars`` characters, or containing control characters."""
    if len(conversation) > max_chars:
        return f"会话 ID 过长（{len(conversation)} 个字符，上限 {max_chars}）：请使用较短的 ID，例如 UUID。"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in conversation):
        return "会话 ID 不能含控制字符：请使用字母、数字等可见字符，例如 UUID。"
    return ""


def check_conversation_id(conversation: str, max_chars: int) -> None:
    """Raise QuestionError (message from :func:`conversation_id_problem`) for an unusable id."""
    problem = conversation_id_problem(conversation, max_chars)
    if problem:
        raise QuestionError(problem)


def estimate_bytes(value, _depth: int = 0) -> int:
    """Rough memory of a context value: ``sys.getsizeof`` of containers and their items, recursively
    (strings and numbers counted whole; shared objects counted at each reference, so an over-estimate).
    Deeper than 6 levels counts the object alone."""
    size = sys.getsizeof(value)
    if _depth > 6:
        return size
    if isinstance(value, dict):
        return size + sum(estimate_bytes(k, _depth + 1) + estimate_bytes(v, _depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return size + sum(estimate_bytes(v, _depth + 1) for v in value)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return size + estimate_bytes(vars(value), _depth + 1)
    return size


class ConversationContexts:
    """Contexts by conversation id: at most ``max_count`` of them and about ``max_bytes`` together.

    :meth:`get` returns the context of an id (a new empty one the first time) and marks it most
    recently used; :meth:`measure` records its size after a turn and forgets the least recently used
    contexts while the total is over the budget (never the one just measured). Thread-safe.
    """

    def __init__(self, max_count: int, max_bytes: int):
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, dict] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._total = 0
        self._lock = threading.Lock()

    def get(self, conversation: str) -> dict:
        """The context of ``conversation`` (created empty if new or forgotten)."""
        with self._lock:
            ctx = self._items.get(conversation)
            if ctx is None:
                ctx = self._items[conversation] = {}
                self._sizes[conversation] = 0
            self._items.move_to_end(conversation)
            self._evict(keep=conversation)
            return ctx

    def measure(self, conversation: str) -> None:
        """Record the size of ``conversation``'s context (after a turn changed it) and evict."""
        with self._lock:
            ctx = self._items.get(conversation)
            if ctx is None:
                return
            size = estimate_bytes(conversation) + estimate_bytes(ctx)
            self._total += size - self._sizes.get(conversation, 0)
            self._sizes[conversation] = size
            self._evict(keep=conversation)

    def _evict(self, keep: str) -> None:
        while self._items and (len(self._items) > self.max_count or self._total > self.max_bytes):
            oldest = next(iter(self._items))
            if oldest == keep:
                break
            del self._items[oldest]
            self._total -= self._sizes.pop(oldest, 0)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, conversation: str) -> bool:
        return conversation in self._items

    @property
    def total_bytes(self) -> int:
        """The estimated size of all contexts kept."""
        return self._total
