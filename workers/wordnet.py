"""WordNet 3.0 through nltk, found in the project's own NLTK data folder without NLTK_DATA."""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from workers.errors import SetupError
from workers.paths import nltk_data_dir

# What nltk's WordNet reader opens; 'lexnames' is not in Debian's packages and is derived.
WORDNET_FILES = (
    "lexnames",
    "index.sense",
    "data.noun",
    "data.verb",
    "data.adj",
    "data.adv",
    "index.noun",
    "index.verb",
    "index.adj",
    "index.adv",
    "noun.exc",
    "verb.exc",
    "adj.exc",
    "adv.exc",
)


def wordnet_dir(data_dir: Path) -> Path:
    return data_dir / "corpora" / "wordnet"


@cache
def load_wordnet():
    """nltk's WordNet reader over the provisioned corpus (one instance per process)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    corpus = wordnet_dir(nltk_data_dir())
    if not all((corpus / name).is_file() for name in WORDNET_FILES):
        raise SetupError(
            f"WordNet is not provisioned (looked in {corpus}): run `orch setup` (or `make setup`)"
        )
    if str(nltk_data_dir()) not in nltk.data.path:
        nltk.data.path.insert(0, str(nltk_data_dir()))
    with warnings.catch_warnings():  # no Open Multilingual Wordnet: English is all we need
        warnings.simplefilter("ignore", UserWarning)
        return WordNetCorpusReader(str(corpus), None)


def corpus_version() -> str:
    """What identifies the provisioned corpus: its files' sizes and modification times."""
    corpus = wordnet_dir(nltk_data_dir())
    parts = []
    for name in WORDNET_FILES:
        stat = (corpus / name).stat() if (corpus / name).is_file() else None
        parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{name}:-")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _materialised(kind: str, key: str, compute) -> list[str]:
    """A word list kept as text under the feature cache, keyed by ``kind``, the corpus version
    and ``key``: opening WordNet's reader costs seconds per process, a word list under a
    millisecond, so every worker after the first reads the list."""
    from workers.paths import cache_dir

    digest = hashlib.sha256(f"{corpus_version()}|{key}".encode()).hexdigest()[:24]
    path = cache_dir() / "words" / f"{kind}-{digest}.txt"
    if path.is_file():
        return path.read_text(encoding="utf-8").split("\n") if path.stat().st_size else []
    words = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(words))
    os.replace(tmp, path)  # atomic: a concurrent reader sees the whole list or none
    return words


@cache
def noun_lemmas() -> list[str]:
    """Lemma names of all noun synsets: lower-cased, '_' as space, unique, sorted."""

    def compute() -> list[str]:
        wn = load_wordnet()
        return sorted({name.replace("_", " ").lower() for name in wn.all_lemma_names(pos="n")})

    return _materialised("wordnet-nouns", "", compute)


def base_synonyms(base_names: Sequence[str]) -> set[str]:
    """The base names and every lemma of their noun synsets (lower-cased, '_' as space)."""

    def compute() -> list[str]:
        wn = load_wordnet()
        banned = {n.lower() for n in base_names}
        for name in base_names:
            for synset in wn.synsets(name.replace(" ", "_"), pos="n"):
                banned.update(lemma.replace("_", " ").lower() for lemma in synset.lemma_names())
        return sorted(banned)

    return set(_materialised("wordnet-banned", "\n".join(base_names), compute))
