"""A worker process Ray reuses for the next trial keeps its model, cached features and word
lists, and gives the same numbers as a fresh one."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from workers.config import TrialConfig
from workers.trial import run_trial

CONFIG = {
    "data.shots": 2,
    "data.n_views": 1,
    "train.epochs": 1,
    "train.weight_epochs": 1,
    "method.mixture": True,
    "method.lam": 4.0,
    "method.w": 2.0,
    "method.pool_size": 200,
}
FRESH = (
    "import json, sys; from workers.config import TrialConfig; from workers.trial import "
    "run_trial; cfg = TrialConfig().with_overrides(json.loads(sys.argv[1])); "
    "print(json.dumps(run_trial(cfg).metrics))"
)


def test_a_reused_worker_gives_a_fresh_workers_metrics():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH, json.dumps(CONFIG)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    # this process first runs another configuration: the model, the features and the word
    # lists it loaded stay in memory for the next one
    run_trial(TrialConfig().with_overrides({**CONFIG, "method.w": 7.0, "train.seed": 3}))
    reused = run_trial(TrialConfig().with_overrides(CONFIG)).metrics
    assert reused == pytest.approx(json.loads(fresh.stdout.splitlines()[-1]), abs=1e-6)


WITHOUT_WORDNET = (
    "import workers.wordnet as w\n"
    "def closed():\n"
    "    raise RuntimeError('WordNet opened')\n"
    "w.load_wordnet = closed\n"
    "print(len(w.noun_lemmas()), sorted(w.base_synonyms(['circle'])) [:3])\n"
)


def test_word_lists_are_materialised_once_and_read_without_wordnet(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORCH_CACHE": str(tmp_path)}
    first = subprocess.run(
        [sys.executable, "-c", "import workers.wordnet as w; "
         "print(len(w.noun_lemmas()), sorted(w.base_synonyms(['circle']))[:3])"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert len(list((tmp_path / "words").glob("*.txt"))) == 2
    again = subprocess.run(
        [sys.executable, "-c", WITHOUT_WORDNET], capture_output=True, text=True, env=env
    )
    assert again.returncode == 0, again.stderr[-2000:]  # never opened WordNet's reader
    assert again.stdout == first.stdout
    assert first.stdout.split()[0] == "117798"  # WordNet 3.0's noun lemmas
