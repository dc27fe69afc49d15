"""The documentation site builds with every link and page checked, and every `orch` command
its code blocks (and the README's) show is one orch's parser accepts."""

import argparse
import re
import shlex
import subprocess
import sys

import pytest

from orchestrator.cli import build_parser, subcommand_parsers
from tests.helpers import ROOT

DOCS = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
SHELL = ("", "bash", "sh", "console", "shell")


def shell_blocks(text: str) -> list[str]:
    """The text of every fenced code block in a shell language (or none named)."""
    blocks, current, lang = [], None, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if current is None:
                current, lang = [], line.strip()[3:].strip()
            else:
                if lang in SHELL:
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def words_of(line: str) -> list[list[str]]:
    """A shell line's simple commands, split at ``&&``, ``||``, ``;`` and ``|``."""
    lexer = shlex.shlex(line.replace("<", "").replace(">", ""), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split, lexer.commenters = True, "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(";&|"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def shown_commands() -> list[tuple[str, list[str]]]:
    """(page, argv after `orch`) for every `orch ...` command in a shell code block."""
    found = []
    for page in DOCS:
        for block in shell_blocks(page.read_text()):
            joined = re.sub(r"\\\n\s*", " ", block)  # continuation lines
            for line in joined.splitlines():
                for words in words_of(line):
                    if words[0].endswith("/orch") or words[0] == "orch":
                        found.append((page.relative_to(ROOT).as_posix(), words[1:]))
    return found


def subcommands() -> dict[str, argparse.ArgumentParser]:
    return subcommand_parsers(build_parser())


def test_the_docs_show_commands_at_all():
    pages = {page for page, _ in shown_commands()}
    assert {"README.md", "docs/tutorial.md", "docs/how-to/cluster.md"} <= pages


@pytest.mark.parametrize(("page", "argv"), shown_commands(), ids=lambda v: " ".join(v)[:60])
def test_every_shown_command_names_a_command_and_its_flags(page, argv):
    commands = subcommands()
    assert argv and argv[0] in commands, f"{page}: `orch {' '.join(argv)}`: no such command"
    flags = {s for a in commands[argv[0]]._actions for s in a.option_strings}
    for word in argv[1:]:
        if word.startswith("-") and not re.fullmatch(r"-\d.*", word):
            name = word.split("=")[0]
            assert name in flags, f"{page}: `orch {' '.join(argv)}`: {name} is not a flag"


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    for name in subcommands():  # the generated reference holds every command's help
        assert f"orch {name}" in cli, name
    spec = (tmp_path / "site" / "reference" / "spec" / "index.html").read_text()
    assert "method.lam" in spec and "search.asha.grace_period" in spec
    layout = (tmp_path / "site" / "reference" / "layout" / "index.html").read_text()
    assert all(f"{package}/" in layout for package in ("selection", "spec", "search", "sweep"))


def test_the_spec_reference_has_every_key_with_a_description():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from hooks import spec_rows
    finally:
        sys.path.remove(str(ROOT / "docs"))
    from orchestrator.spec.schema import SweepSections
    from workers.config import TrialConfig

    rows = {key: (kind, default, note) for key, kind, default, note in spec_rows()}
    assert set(TrialConfig().flat()) <= set(rows)
    assert {"search.sampler", "selection.bound", "space.KEY.choices", "objectives[].metric"} <= set(
        rows
    )
    assert {key.split(".")[0] for key in rows} >= set(SweepSections.model_fields) | {"protocol"}
    assert rows["search.sampler"][:2] == (
        "Literal['tpe', 'nsga2', 'gp', 'random', 'grid']",
        "'tpe'",
    )
    assert rows["train.lr"][1] == "0.002"
    undescribed = sorted(key for key, (_, _, note) in rows.items() if not note)
    assert undescribed == []
