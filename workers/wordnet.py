"""WordNet 3.0 through nltk, found in the project's own NLTK data folder without NLTK_DATA."""

from __future__ import annotations

import warnings
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


def noun_lemmas() -> list[str]:
    """Lemma names of all noun synsets: lower-cased, '_' as space, unique, sorted."""
    wn = load_wordnet()
    return sorted({name.replace("_", " ").lower() for name in wn.all_lemma_names(pos="n")})
