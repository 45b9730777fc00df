"""report.html: one self-contained page (figures embedded) that any browser opens.

The page says what scale the model was trained at, sets every number beside
the untrained control, the shuffled-position control and the macaque values
that have a source, and says where a measure has no macaque baseline.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stdann.analysis.macaque import BASELINES, NO_BASELINE


@dataclass
class Figure:
    title: str
    png: Path
    caption: str


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def _fmt(value: Any) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return html.escape(str(value))


def table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def baselines_section() -> str:
    rows = [
        [b.quantity, b.value, b.unit, b.conditions, b.source, f"\u201c{b.exact_words}\u201d"]
        for b in BASELINES
    ]
    missing = "".join(
        f"<li>{html.escape(m.quantity)}: {html.escape(m.reason)}</li>" for m in NO_BASELINE
    )
    return (
        "<h2>Macaque MT: what the comparison rests on</h2>"
        + table(["quantity", "value", "unit", "conditions", "source", "exact words"], rows)
        + "<p>Measures this report shows with no sourced macaque value yet (none is "
        "invented):</p><ul>" + missing + "</ul>"
    )


_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #444; }
.scale { background: #fff7e0; border: 1px solid #e8d9a8; padding: 0.6em 1em; }
"""


def write_report(
    path: Path,
    title: str,
    scale_note: str,
    sections: list[tuple[str, str]],
    figures: list[Figure],
) -> Path:
    """Write the page: a scale note, HTML sections (heading, body) and figures."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="scale">{scale_note}</p>',
    ]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    for fig in figures:
        parts.append(
            f"<figure><h3>{html.escape(fig.title)}</h3>{_image(fig.png)}"
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>"
        )
    parts.append(baselines_section())
    parts.append("</body></html>")
    from stdann.atomic import atomic_write_text

    return atomic_write_text(path, "\n".join(parts) + "\n")
