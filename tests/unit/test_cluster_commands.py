"""Every ``orch`` command line in ``cluster/`` manifests and ``cluster/README.md`` parses with the
real CLI and names a spec that loads. Pure: YAML, argparse and the spec loader; no Ray."""

from __future__ import annotations

import re
import shlex

import pytest

from orchestrator.cli import build_parser
from orchestrator.spec.load import load_spec, parse_overrides
from orchestrator.submission.submit import check_cluster_safe
from tests.unit.test_cluster_manifests import MANIFESTS, README, ROOT, SEPARATORS, documents

# ---- every `orch` command line ----------------------------------------------------------------


def shell_commands(text: str) -> list[list[str]]:
    """The simple commands of a shell snippet, split at ; & && || | ( ), comments dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token in SEPARATORS:
            commands.append(current)
            current = []
        else:
            current.append(token)
    return [words for words in [*commands, current] if words]


def orch_words(words: list[str]) -> list[str] | None:
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):  # VAR=value prefixes
        words = words[1:]
    # a command has a subcommand: a bare `orch` is a name (cluster_name, namespace)
    if len(words) > 1 and (words[0] == "orch" or words[0].endswith("/orch")):
        return words[1:]
    return None


def yaml_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from yaml_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from yaml_strings(value)


def command_lines() -> list[tuple[str, list[str], bool]]:
    """(where, words after `orch`, runs on a cluster) for every `orch` command we ship."""
    found = []
    for path in MANIFESTS:
        for doc in documents(path):
            for text in yaml_strings(doc):
                for words in shell_commands(text):
                    if (args := orch_words(words)) is not None:
                        found.append((f"{path.name}:{doc.get('kind', '')}", args, True))
    lines = README.read_text().splitlines()
    fenced, start, logical = False, 0, ""
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        start = start or number
        logical += line.rstrip("\\").rstrip() + " "
        if line.endswith("\\"):
            continue
        for words in shell_commands(logical):
            if (args := orch_words(words)) is not None:
                found.append((f"README.md:{start}", args, args[:1] == ["submit"]))
        start, logical = 0, ""
    return found


COMMANDS = command_lines()


def test_the_walkthrough_uses_every_cluster_command():
    used = {args[0] for _, args, _ in COMMANDS if args}
    assert {"sweep", "submit", "jobs", "logs", "stop"} <= used, used


@pytest.mark.parametrize(
    "where, words, on_cluster",
    COMMANDS,
    ids=[f"{w} orch {' '.join(a[:2])}" for w, a, _ in COMMANDS],
)
def test_command_parses_and_its_spec_loads(where, words, on_cluster, capsys):
    try:
        args = build_parser().parse_args(words)
    except SystemExit:
        error = capsys.readouterr().err
        pytest.fail(f"{where}: `orch {shlex.join(words)}` does not parse: {error}")
    if not hasattr(args, "spec"):
        return
    path = ROOT / args.spec
    assert path.is_file(), f"{where}: spec {args.spec} is not in the repository"
    spec = load_spec(path, parse_overrides(args.overrides))
    if on_cluster:  # the same rule `orch submit` enforces: a server and storage every node shares
        check_cluster_safe(spec, args.tracking_uri, args.storage)
