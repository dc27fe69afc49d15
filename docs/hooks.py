"""MkDocs hooks: the reference pages filled from orch's own code at build time."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLI_MARK = "<!-- orch-cli-reference -->"
SPEC_MARK = "<!-- orch-spec-reference -->"


def cli_reference() -> str:
    from orchestrator.cli import build_parser, subcommand_parsers

    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]
    for name, sub in subcommand_parsers(parser).items():
        parts += ["", f"## orch {name}", "", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(parts)


def spec_reference() -> str:
    from workers.config import TrialConfig

    rows = ["| key | default |", "|---|---|"]
    for key, value in TrialConfig().flat().items():
        rows.append(f"| `{key}` | `{value!r}` |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_) -> str:
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    if SPEC_MARK in markdown:
        markdown = markdown.replace(SPEC_MARK, spec_reference())
    return markdown
