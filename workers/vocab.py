"""Outlier vocabularies: the textual outliers of DOR and the out-class sets of CoA-weights.

| name               | words                                                                |
|--------------------|----------------------------------------------------------------------|
| wordnet_nouns      | WordNet 3.0 noun lemmas, base class names and their synonyms removed |
| wordnet_near_ood   | those ranked by mean zero-shot similarity to the base names, top K   |
| random_words       | a uniform random sample of those nouns (no similarity ranking)       |
| random_strings     | random lowercase strings of word-like lengths                        |
| clip_vocab         | whole words of CLIP's BPE vocabulary, base names and their words out |
| file:PATH          | one word per line, user-supplied                                     |

New class names are never used to filter: that would leak the evaluation classes. How many
pool words equal a new class name is reported as a diagnostic instead.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from workers.errors import ConfigError, DataError

MIN_POOL = 8
_WORD_LENGTHS = (3, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 12)


@dataclass(frozen=True)
class OutlierPool:
    name: str
    words: tuple[str, ...]
    new_class_overlap: int  # diagnostic: pool words equal to a new class name


def wordnet_nouns(base_names: Sequence[str]) -> list[str]:
    from workers.wordnet import base_synonyms, noun_lemmas

    banned = base_synonyms(base_names)
    return [w for w in noun_lemmas() if w not in banned]


def near_ood(
    words: Sequence[str],
    base_names: Sequence[str],
    k: int,
    encode: Callable[[Sequence[str]], torch.Tensor],
) -> list[str]:
    """Top ``k`` words by mean cosine of their zero-shot prompt to the base class prompts.

    ``encode`` maps names to L2-normalised template features (N, E).
    """
    base = encode(base_names)  # (C_b, E)
    scores = torch.cat(
        [encode(words[i : i + 4096]) @ base.mean(0) for i in range(0, len(words), 4096)]
    )
    top = scores.topk(min(k, len(words))).indices.tolist()  # (mean of cosines = cosine to the mean)
    return [words[i] for i in top]


def random_strings(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = {
        "".join(rng.choices(string.ascii_lowercase, k=rng.choice(_WORD_LENGTHS))) for _ in range(n)
    }
    return sorted(words)


def read_word_file(path: str) -> list[str]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(
            f"outlier vocabulary file not found: {file} (method.outlier_vocab: file:PATH)"
        )
    seen, words = set(), []
    for line in file.read_text().splitlines():
        word = line.strip().lower()
        if word and word not in seen:
            seen.add(word)
            words.append(word)
    return words


def build_pool(
    vocab: str,
    *,
    base_names: Sequence[str],
    new_names: Sequence[str],
    encode: Callable[[Sequence[str]], torch.Tensor],
    near_ood_k: int,
    pool_size: int,
    seed: int = 0,
) -> OutlierPool:
    """The words of ``vocab`` for these base classes (``new_names`` only for the diagnostic)."""
    if vocab == "wordnet_nouns":
        words = wordnet_nouns(base_names)
    elif vocab == "wordnet_near_ood":
        words = near_ood(wordnet_nouns(base_names), base_names, near_ood_k, encode)
    elif vocab == "random_words":
        nouns = wordnet_nouns(base_names)
        words = random.Random(seed).sample(nouns, min(pool_size, len(nouns)))
    elif vocab == "random_strings":
        banned = {n.lower() for n in base_names}
        words = [w for w in random_strings(pool_size, seed) if w not in banned]
    elif vocab == "clip_vocab":
        from workers.model import tokenizer_words

        banned = {n.lower() for n in base_names} | {
            part for n in base_names for part in n.lower().split()
        }
        words = [w for w in tokenizer_words() if w not in banned]
    elif vocab.startswith("file:"):
        banned = {n.lower() for n in base_names}
        words = [w for w in read_word_file(vocab[len("file:") :]) if w not in banned]
    else:
        raise ConfigError(f"method.outlier_vocab: unknown vocabulary {vocab!r}")
    if len(words) < MIN_POOL:
        raise ConfigError(
            f"method.outlier_vocab: {vocab!r} leaves {len(words)} words after removing base class "
            f"names; at least {MIN_POOL} are needed"
        )
    new = {n.lower() for n in new_names}
    return OutlierPool(vocab, tuple(words), sum(w in new for w in words))


class OutlierSampler:
    """Draws outlier batches and out-class sets, re-drawn every step, every epoch, or never."""

    def __init__(self, n_words: int, *, resample_every: str, seed: int) -> None:
        self.n_words = n_words
        self.resample_every = resample_every
        self.generator = torch.Generator().manual_seed(seed)
        self.held: dict[int, torch.Tensor] = {}

    def draw(self, size: int, *, new_epoch: bool) -> torch.Tensor:
        """Indices into the pool. -> (min(size, n_words),)"""
        held = self.held.get(size)
        fresh = (
            held is None
            or self.resample_every == "step"
            or (self.resample_every == "epoch" and new_epoch)
        )
        if fresh:
            held = torch.randperm(self.n_words, generator=self.generator)[: min(size, self.n_words)]
            self.held[size] = held
        return held
