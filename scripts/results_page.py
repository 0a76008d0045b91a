"""docs/RESULTS.md is written in sections by several scripts; each owns the text between its markers."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "RESULTS.md"


def write_section(name: str, body: str, path: Path = RESULTS) -> Path:
    """Replace the section `name` (between its HTML-comment markers) or append it at the end."""
    start, end = f"<!-- section {name} -->", f"<!-- end section {name} -->"
    text = path.read_text() if path.is_file() else ""
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    return path
