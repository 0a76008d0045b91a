"""The report's HTML: one self-contained page, its style inline, its images as data: URIs.

The page's Content-Security-Policy allows images from data: URIs and inline style only, so a
browser makes no request at all while showing it, and runs no script.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
:root { --ink: #1d2733; --muted: #6b7785; --line: #d9dee4; --panel: #f6f8fa; --accent: #2f6db5; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 28px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--ink); background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0; }
h3 { font-size: 13px; margin: 10px 0 6px; color: var(--muted); font-weight: 600; }
header p { margin: 0 0 18px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top;
         overflow-wrap: anywhere; }
th { background: var(--panel); font-weight: 600; }
td.number, th.number { text-align: right; white-space: nowrap; }
tr.group td { background: var(--panel); font-weight: 600; color: var(--muted); }
.summary { margin-bottom: 22px; overflow-x: auto; }
.summary td:first-child { font-weight: 600; }
.runs { display: grid; grid-template-columns: repeat(var(--columns), minmax(0, 1fr)); gap: 10px 18px; }
.run-title { position: sticky; top: 0; z-index: 1; background: #fff; padding: 8px 0 6px;
             border-bottom: 2px solid var(--accent); }
.run-title .path { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.section-title { grid-column: 1 / -1; margin-top: 14px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.cell { min-width: 0; overflow-x: auto; }
.cell img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
.cell figure { margin: 0 0 8px; }
.groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 0 16px; }
.groups table td:first-child { color: var(--muted); white-space: nowrap; }
.cell figcaption { color: var(--muted); font-size: 12px; margin-top: 2px; }
.note { color: var(--muted); font-style: italic; }
.baseline { color: var(--muted); }
"""
NUMBER = ' class="number"'


@dataclass(frozen=True)
class Column:
    """One run's column: its title, its folder and the HTML of each section it has."""

    title: str
    path: str
    sections: dict[str, str]
    notes: dict[str, str]  # why a section is not shown, for the sections that do not apply


def escape(value) -> str:
    return html.escape(str(value), quote=True)


def format_value(value) -> str:
    """A number in at most six significant digits; lists and other values as short text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return str(value)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_columns(rows: list[list]) -> set[int]:
    """The columns holding numbers: their numbers and headings are right-aligned."""
    return {index for row in rows for index, value in enumerate(row) if is_number(value)}


def table(header: list[str], rows: list[list], element_id: str = "", align_numbers: bool = True) -> str:
    """An HTML table, its numbers right-aligned (unless `align_numbers` is false). A row given as a
    one-item list is a group heading across the table; without a header there is no head row."""
    identity = f' id="{escape(element_id)}"' if element_id else ""
    numbers = numeric_columns([row for row in rows if len(row) > 1]) if align_numbers else set()
    head = "".join(f'<th{NUMBER if index in numbers else ""}>{escape(name)}</th>' for index, name in enumerate(header))
    width = len(header) or max((len(row) for row in rows), default=1)
    body = []
    for row in rows:
        if len(row) == 1:
            body.append(f'<tr class="group"><td colspan="{width}">{escape(row[0])}</td></tr>')
            continue
        cells = "".join(f'<td{NUMBER if index in numbers and (is_number(value) or value is None) else ""}>'
                        f"{escape(format_value(value))}</td>" for index, value in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f"<table{identity}>{thead}<tbody>{''.join(body)}</tbody></table>"


def key_value_groups(groups: dict[str, list[list]]) -> str:
    """Small key-value tables, one per group, flowing side by side where the column is wide enough."""
    tables = "".join(f"<div><h3>{escape(name)}</h3>{table([], rows, align_numbers=False)}</div>"
                     for name, rows in groups.items() if rows)
    return f'<div class="groups">{tables}</div>'


def image(png: bytes, caption: str) -> str:
    """A PNG embedded as a data: URI, with its caption."""
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="{source}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def render(title: str, subtitle: str, summary: str, columns: list[Column], sections: list[tuple[str, str]]) -> str:
    """The whole page: the summary table, then one grid row per section with one cell per run.

    `sections` lists (section id, heading) in page order; a section no run has is left out, and a
    run without a section gets a short note in its cell so that the rows stay aligned."""
    cells = []
    for index, column in enumerate(columns, start=1):
        path = f'<div class="path">{escape(column.path)}</div>' if column.path != column.title else ""
        cells.append(f'<div class="run-title" id="run-{index}"><h2>{escape(column.title)}</h2>{path}</div>')
    for section_id, heading in sections:
        if not any(section_id in column.sections for column in columns):
            continue
        cells.append(f'<h2 class="section-title" id="section-{section_id}">{escape(heading)}</h2>')
        for index, column in enumerate(columns, start=1):
            if section_id in column.sections:
                cells.append(f'<div class="cell" id="run-{index}-{section_id}">{column.sections[section_id]}</div>')
            else:
                cells.append(f'<div class="cell absent">{note(column.notes.get(section_id, "not applicable"))}</div>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>
<section class="summary" id="summary"><h2>Summary</h2>{summary}</section>
<main class="runs" style="--columns: {len(columns)}">
{chr(10).join(cells)}
</main>
</body>
</html>
"""
