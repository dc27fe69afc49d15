"""MkDocs hooks: the reference pages filled from orch's own code at build time."""

from __future__ import annotations

import re
import sys
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLI_MARK = "<!-- orch-cli-reference -->"
SPEC_MARK = "<!-- orch-spec-reference -->"
LAYOUT_MARK = "<!-- orch-layout-reference -->"


def cli_reference() -> str:
    from orchestrator.cli import build_parser, subcommand_parsers

    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]
    for name, sub in subcommand_parsers(parser).items():
        parts += ["", f"## orch {name}", "", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(parts)


def field_comments(cls: type) -> dict[str, str]:
    """A class's field -> the comment beside it or the comment lines just above it."""
    import inspect

    comments: dict[str, str] = {}
    above: list[str] = []
    for line in inspect.getsource(cls).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        match = re.match(r"\s{4}(\w+)\s*:[^#]*(?:#\s*(.*))?$", line)
        if match and not stripped.startswith(("def ", "@")):
            beside = match.group(2)
            comments[match.group(1)] = " ".join([*above, beside] if beside else above)
        above = []
    return comments


def _shown(annotation: object) -> str:
    if isinstance(annotation, type):
        text = annotation.__name__
    else:  # "typing.Literal['a', 'b']", "list[orchestrator.spec.schema.NamedPoint]"
        text = re.sub(r"\b(?:[a-z_]+\.)+([A-Za-z_]+)", r"\1", str(annotation))
    return text.replace("NoneType", "None").replace("|", "\\|")


def spec_rows() -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every spec key, from the code's own classes."""
    import dataclasses

    from pydantic import BaseModel

    from orchestrator.spec.schema import SweepSections
    from workers.config import TrialConfig
    from workers.protocol import Protocol

    rows: list[tuple[str, str, str, str]] = []

    def from_dataclass(prefix: str, cls: type) -> None:
        notes = field_comments(cls)
        for f in dataclasses.fields(cls):
            if f.name == "split" and cls is Protocol:
                continue  # the spec's selection.split, copied in
            default = f.default if f.default is not dataclasses.MISSING else None
            rows.append(
                (f"{prefix}.{f.name}", _shown(f.type), repr(default), notes.get(f.name, ""))
            )

    def from_model(prefix: str, cls: type[BaseModel]) -> None:
        notes = field_comments(cls)
        for name, f in cls.model_fields.items():
            key, annotation = f"{prefix}.{f.alias or name}", f.annotation
            note = f.description or notes.get(name, "")
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                from_model(key, annotation)
                continue
            default = (
                "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
            )
            rows.append((key, _shown(annotation), default, note))
            # a list or mapping of models: each item's keys, as key[].x or key.KEY.x
            item = (typing.get_args(annotation) or [None])[-1]
            if isinstance(item, type) and issubclass(item, BaseModel):
                inner = "[]" if typing.get_origin(annotation) is list else ".KEY"
                from_model(key + inner, item)

    for section in dataclasses.fields(TrialConfig):
        from_dataclass(section.name, section.default_factory)
    from_dataclass("protocol", Protocol)
    from_model("", SweepSections)
    return [(key.lstrip("."), kind, default, note) for key, kind, default, note in rows]


def spec_reference() -> str:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, kind, default, note in spec_rows():
        rows.append(f"| `{key}` | `{kind}` | `{default}` | {note} |")
    return "\n".join(rows)


def layout_reference() -> str:
    """The control plane's packages in import order, each with its docstring and modules."""
    import importlib

    import orchestrator

    root = Path(orchestrator.__file__).parent
    order = [
        line.split("``")[1] for line in orchestrator.__doc__.splitlines() if line.startswith("- ``")
    ]
    order += ["provision", "commands"]
    rows = []
    for name in order:
        doc = importlib.import_module(f"orchestrator.{name}").__doc__ or ""
        what = " ".join(doc.strip().split("\n\n")[0].split())
        (may,) = re.findall(r"May import: (.*)", doc)
        modules = sorted(p.stem for p in (root / name).glob("*.py") if p.stem != "__init__")
        rows.append(f"    - `{name}/` ({', '.join(modules)}): {what} May import: {may}")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_) -> str:
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    if SPEC_MARK in markdown:
        markdown = markdown.replace(SPEC_MARK, spec_reference())
    if LAYOUT_MARK in markdown:
        markdown = markdown.replace(LAYOUT_MARK, layout_reference())
    return markdown
