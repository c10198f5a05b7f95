"""The budget-domain lexicon (``assistant/data/lexicon.json``): official terms, their colloquial
forms, part/whole relations and English phrases. Loaded once per process."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..parsing.text import norm_label


@dataclass(frozen=True)
class Lexicon:
    """``aliases``: colloquial form → official term; ``parents``: part → whole (default denominator
    of 占比); ``children``: whole → parts; ``item_tables``: word → table-title keyword whose rows it
    names; ``english``: English phrase → Chinese term."""

    aliases: dict[str, str]
    officials: tuple[str, ...]
    parents: dict[str, str]
    children: dict[str, tuple[str, ...]]
    item_tables: dict[str, str]
    english: dict[str, str]

    def canonical(self, term: str) -> str:
        """The official form of a term (itself if it is not a known alias)."""
        t = norm_label(term)
        return self.aliases.get(t, t)

    def parent(self, term: str) -> str:
        """The whole a term is part of ("" if unknown). Accepts label variants ending in 支出."""
        t = self.canonical(term)
        for cand in (t, re.sub(r"支出$", "", t), t + "支出"):
            if cand in self.parents:
                return self.parents[cand]
        return ""

    def expand(self, question: str, protected: list[str]) -> str:
        """Replace colloquial forms in a question by their official term.

        An alias is not replaced where it is part of a longer protected word (an official term or a
        label present in the indexed documents) occurring in the question: "公务接待费" keeps its
        "接待费". Longest aliases first.
        """
        spans: list[tuple[int, int]] = []
        for word in sorted(set(protected) | set(self.officials), key=len, reverse=True):
            if len(word) < 2:
                continue
            for m in re.finditer(re.escape(word), question):
                spans.append((m.start(), m.end()))
        out = question
        for alias in sorted(self.aliases, key=len, reverse=True):
            official = self.aliases[alias]
            pos = 0
            while True:
                i = out.find(alias, pos)
                if i < 0:
                    break
                j = i + len(alias)
                covered = any(s <= i and j <= e and (e - s) > (j - i) for s, e in spans)
                if covered or official in out[max(0, i - len(official)):j + len(official)]:
                    pos = j
                    continue
                out = out[:i] + official + out[j:]
                shift = len(official) - len(alias)
                spans = [(s + shift if s >= j else s, e + shift if e >= j else e) for s, e in spans]
                spans.append((i, i + len(official)))
                pos = i + len(official)
        return out

    def translate_english(self, question: str) -> str:
        """Replace known English phrases (case-insensitive) by their Chinese term."""
        out = question
        for phrase in sorted(self.english, key=len, reverse=True):
            out = re.sub(re.escape(phrase), self.english[phrase], out, flags=re.I)
        return out


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Read the packaged lexicon. Raises ValueError if an alias maps to two official terms."""
    data = json.loads(resources.files("assistant.data").joinpath("lexicon.json").read_text("utf-8"))
    aliases: dict[str, str] = {}
    officials = []
    for entry in data["terms"]:
        off = norm_label(entry["official"])
        officials.append(off)
        for a in entry["aliases"]:
            a = norm_label(a)
            if a in aliases and aliases[a] != off:
                raise ValueError(f"lexicon: alias {a} maps to {aliases[a]} and {off}")
            aliases[a] = off
    return Lexicon(
        aliases=aliases,
        officials=tuple(officials),
        parents={norm_label(k): norm_label(v) for k, v in data["parents"].items()},
        children={norm_label(k): tuple(norm_label(x) for x in v) for k, v in data["children"].items()},
        item_tables=dict(data["item_tables"]),
        english={k.lower(): v for k, v in data["english"].items()},
    )
