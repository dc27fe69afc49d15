"""WordNet as provisioned by `orch setup`, found without NLTK_DATA."""

import os
import subprocess
import sys

from orchestrator.provision.wordnet import wordnet_complete
from workers.paths import nltk_data_dir
from workers.wordnet import load_wordnet, noun_lemmas, wordnet_dir


def test_provisioned_corpus_is_complete_with_45_lexnames():
    corpus = wordnet_dir(nltk_data_dir())
    assert wordnet_complete(corpus), f"run `orch setup` first ({corpus})"
    assert len((corpus / "lexnames").read_text().splitlines()) == 45


def test_wordnet_3_nouns_through_nltk():
    wn = load_wordnet()
    assert wn.get_version() == "3.0"
    dog = wn.synset("dog.n.01")
    assert dog.lexname() == "noun.animal"
    assert "domestic dog" in {lemma.replace("_", " ") for lemma in dog.lemma_names()}
    nouns = noun_lemmas()
    assert len(nouns) > 100_000  # WordNet 3.0 has 117,798 noun lemmas
    assert "hexagon" in nouns and all(n == n.lower() and "_" not in n for n in nouns[:1000])


def test_found_without_nltk_data_env():
    env = {k: v for k, v in os.environ.items() if k != "NLTK_DATA"}
    code = "from workers.wordnet import noun_lemmas; print(len(noun_lemmas()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 100_000
