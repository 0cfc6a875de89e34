"""Self-contained HTML documents: text, tables and matplotlib figures in one file.

A document is a title and a list of :class:`Section`. :func:`write_document` writes one HTML file
whose figures are embedded as base64 PNG ``data:`` URIs and whose style is inline CSS, so the
file opens offline and can be mailed or archived on its own. Nothing in it points to the network
or to another file: there is no script, no web font, no stylesheet link, and the only links are
``#`` anchors of the table of contents. Each figure is also saved beside the document as
``figures/<name>.png`` and ``figures/<name>.svg``.

Every file is first written to a staging folder inside ``out_dir`` and only then renamed into
place (same file system, so each rename is atomic); an error while rendering leaves no new or
partial file behind. The document is renamed last, so it never refers to a figure that is not
there.

This module knows nothing about trials: :mod:`simtrial.report` and the lessons build the sections.
"""

from __future__ import annotations

import base64
import html as _html
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.figure
import matplotlib.pyplot as plt
import pandas  # noqa: E402

from ..errors import SimtrialError  # noqa: E402

__all__ = ["Figure", "Section", "write_document", "CSS"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PNG_DPI = 110
"""Resolution of the PNG files and of the images embedded in the document."""


@dataclass
class Figure:
    """A matplotlib figure to embed.

    Attributes
    ----------
    name : str
        File stem, unique within a document (letters, digits, ``_ . -``); the figure is saved as
        ``figures/<name>.png`` and ``.svg``.
    fig : matplotlib.figure.Figure
        Closed by :func:`write_document` once saved.
    caption : str
        Plain text shown under the figure (escaped).
    """

    name: str
    fig: matplotlib.figure.Figure
    caption: str = ""


@dataclass
class Section:
    """One section of a document, rendered in this order: paragraphs, figures, tables, html.

    Attributes
    ----------
    heading : str
        Plain text (escaped); also an entry of the table of contents.
    paragraphs : list of str
        Plain text paragraphs (escaped).
    figures : list of Figure
    tables : list of pandas.DataFrame
        Rendered without the index, cells escaped, missing values blank. A caption can be given
        as ``df.attrs["caption"]`` (plain text).
    html : str
        Trusted extra markup, inserted as is after the tables. It must not reference the
        network or other files (:func:`write_document` refuses ``src``/``href`` values that are
        not ``data:`` URIs or ``#`` anchors).
    """

    heading: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[pandas.DataFrame] = field(default_factory=list)
    html: str = ""


CSS = """
:root { --ink: #1d2430; --muted: #5b6472; --line: #d9dee5; --accent: #1f5f99; --bg: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f8; color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; }
main { max-width: 1060px; margin: 0 auto; padding: 28px 32px 60px; background: var(--bg);
       min-height: 100vh; box-shadow: 0 0 0 1px var(--line); }
header h1 { margin: 0 0 4px; font-size: 26px; color: var(--accent); }
header p.subtitle { margin: 0 0 18px; color: var(--muted); }
nav.toc { border: 1px solid var(--line); border-radius: 6px; padding: 10px 18px; margin: 0 0 24px;
          background: #fafbfc; }
nav.toc ol { margin: 4px 0; padding-left: 22px; columns: 2; }
nav.toc a { color: var(--accent); text-decoration: none; }
section { margin: 0 0 30px; }
h2 { font-size: 20px; border-bottom: 2px solid var(--line); padding-bottom: 4px; margin: 26px 0 12px; }
p { margin: 8px 0; max-width: 78ch; }
figure { margin: 14px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; max-width: 90ch; }
.table-wrap { overflow-x: auto; margin: 10px 0 18px; }
table { border-collapse: collapse; font-size: 13px; }
caption { caption-side: top; text-align: left; color: var(--muted); padding: 0 0 4px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 10px; overflow-x: auto;
      font-size: 12px; line-height: 1.35; }
details > summary { cursor: pointer; color: var(--accent); margin: 8px 0; }
.flag { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; }
.flag-reported { background: #dcefdc; } .flag-derived { background: #fff0c9; }
.flag-assumed { background: #f8dcdc; }
footer { color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
@media print { body { background: #fff; } main { box-shadow: none; } nav.toc { display: none; } }
"""

_REF = re.compile(r"""\b(?:src|href|xlink:href|action|poster|srcset)\s*=\s*["']?([^"'\s>]*)""",
                  re.IGNORECASE)
_URL_IN_CSS = re.compile(r"url\(|@import", re.IGNORECASE)


def _check_markup(markup: str, where: str) -> None:
    """Refuse markup that loads anything from outside the document."""
    for m in _REF.finditer(markup):
        ref = m.group(1)
        if not (ref.startswith("data:") or ref.startswith("#")):
            raise SimtrialError(f"html error: {where} references {ref!r}; only data: URIs and "
                                f"#anchors are allowed (the document must be self-contained)")
    if _URL_IN_CSS.search(markup) or re.search(r"<\s*(script|link|iframe|object|embed)\b",
                                               markup, re.IGNORECASE):
        raise SimtrialError(f"html error: {where} contains a script, link, frame or CSS url(); "
                            "the document must be self-contained and script-free")


def _esc(text: object) -> str:
    return _html.escape(str(text), quote=True)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _table_html(df: pandas.DataFrame) -> str:
    cap = df.attrs.get("caption", "")
    out = ['<div class="table-wrap"><table>']
    if cap:
        out.append(f"<caption>{_esc(cap)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
               + "</tr></thead><tbody>")
    for row in df.itertuples(index=False, name=None):
        cells = []
        for v in row:
            if v is None or (isinstance(v, float) and v != v) or v is pandas.NA:
                cells.append("<td></td>")
            elif _is_num(v):
                cells.append(f'<td class="num">{_esc(v)}</td>')
            else:
                cells.append(f"<td>{_esc(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _render_figure(f: Figure, stage_figs: Path) -> str:
    """Save PNG and SVG into the staging folder; return the <figure> markup (PNG embedded)."""
    png = io.BytesIO()
    # fixed metadata so the same figure gives the same bytes
    f.fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
    data = png.getvalue()
    (stage_figs / f"{f.name}.png").write_bytes(data)
    with plt.rc_context({"svg.hashsalt": f.name, "svg.fonttype": "path"}):
        f.fig.savefig(stage_figs / f"{f.name}.svg", format="svg", metadata={"Date": None})
    b64 = base64.b64encode(data).decode("ascii")
    alt = f.caption or f.name
    cap = f"<figcaption>{_esc(f.caption)}</figcaption>" if f.caption else ""
    return (f'<figure id="fig-{_esc(f.name)}"><img alt="{_esc(alt)}" '
            f'src="data:image/png;base64,{b64}">{cap}</figure>')


def _document(title: str, subtitle: str, body: list[str], toc: list[tuple[str, str]]) -> str:
    nav = ""
    if len(toc) > 1:
        nav = ('<nav class="toc"><strong>Contents</strong><ol>'
               + "".join(f'<li><a href="#{a}">{_esc(h)}</a></li>' for a, h in toc)
               + "</ol></nav>")
    sub = f'<p class="subtitle">{_esc(subtitle)}</p>' if subtitle else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            # forbid every network fetch: the document is complete as it is
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">\n"
            f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            f"<header><h1>{_esc(title)}</h1>{sub}</header>\n{nav}\n" + "\n".join(body)
            + "\n</main>\n</body>\n</html>\n")


def write_document(out_dir, title: str, sections: list[Section], *, filename: str = "report.html",
                   subtitle: str = "") -> dict[str, Path]:
    """Write a self-contained HTML document and its figures as PNG and SVG files.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write into (created if missing).
    title : str
        Document title (plain text).
    sections : list of Section
    filename : str
        Name of the HTML file inside ``out_dir`` (a bare ``*.html`` file name).
    subtitle : str
        Plain text under the title.

    Returns
    -------
    dict of str to pathlib.Path
        Every file written, keyed by its path relative to ``out_dir``: ``filename``, then
        ``figures/<name>.png`` and ``figures/<name>.svg`` for each figure, in section order.

    Raises
    ------
    SimtrialError
        Bad file or figure names (one line), duplicate figure names, or ``Section.html`` that
        references anything but ``data:`` URIs and ``#`` anchors. Nothing is written then.

    Notes
    -----
    Figures are embedded as base64 PNG at :data:`PNG_DPI` dpi. All figures are closed
    (``plt.close``) whether or not writing succeeds.
    """
    figs = [f for s in sections for f in s.figures]
    try:
        if not isinstance(filename, str) or not _NAME.match(filename) or \
                not filename.endswith(".html"):
            raise SimtrialError(f"html error: filename = {filename!r} must be a plain file name "
                                "ending in .html (e.g. report.html)")
        seen: set[str] = set()
        for f in figs:
            if not isinstance(f.name, str) or not _NAME.match(f.name):
                raise SimtrialError(f"html error: Figure.name = {f.name!r} must be 1-100 letters, "
                                    "digits, '_', '.' or '-' (e.g. power_curve)")
            if f.name in seen:
                raise SimtrialError(f"html error: Figure.name = {f.name!r} is used twice; figure "
                                    "names must be unique within a document")
            seen.add(f.name)
        for i, s in enumerate(sections):
            if s.html:
                _check_markup(s.html, f"sections[{i}].html ({s.heading!r})")
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise SimtrialError(f"html error: out_dir = {str(out)!r} exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".html-stage.", dir=out) as tmp:
            stage = Path(tmp)
            (stage / "figures").mkdir()
            body, toc = [], []
            for i, s in enumerate(sections, start=1):
                anchor = f"sec-{i}"
                toc.append((anchor, s.heading))
                parts = [f'<section id="{anchor}"><h2>{_esc(s.heading)}</h2>']
                parts += [f"<p>{_esc(p)}</p>" for p in s.paragraphs]
                parts += [_render_figure(f, stage / "figures") for f in s.figures]
                parts += [_table_html(t) for t in s.tables]
                if s.html:
                    parts.append(s.html)
                parts.append("</section>")
                body.append("\n".join(parts))
            (stage / filename).write_text(_document(title, subtitle, body, toc), encoding="utf-8")
            written: dict[str, Path] = {}
            if figs:
                (out / "figures").mkdir(exist_ok=True)
            for f in figs:
                for ext in ("png", "svg"):
                    rel = f"figures/{f.name}.{ext}"
                    os.replace(stage / rel, out / rel)
                    written[rel] = out / rel
            os.replace(stage / filename, out / filename)
            return {filename: out / filename, **written}
    finally:
        for f in figs:
            plt.close(f.fig)
