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
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.figure
import matplotlib.pyplot as plt
import pandas  # noqa: E402

from ..errors import SimtrialError  # noqa: E402

__all__ = ["Figure", "Section", "write_document", "check_targets", "CSS"]

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

_REF_ATTRS = frozenset({"src", "href", "xlink:href", "action", "formaction", "poster", "srcset",
                        "data", "background", "cite", "longdesc", "lowsrc", "ping", "manifest",
                        "codebase", "archive", "usemap"})
_FORBIDDEN_TAGS = frozenset({"script", "link", "iframe", "frame", "frameset", "object", "embed",
                             "base", "applet", "meta", "portal"})
_URL_IN_CSS = re.compile(r"url\s*\(|@import|expression\s*\(|image-set\s*\(", re.IGNORECASE)


class _MarkupScan(HTMLParser):
    """The tags, attributes and style sheets of a piece of markup, as a browser would read them.

    Only markup can load anything: escaped text (``&lt;``, ``&quot;`` ...) is shown as text, so a
    scenario description that mentions ``url(``, ``src=``, ``href=`` or ``@import`` (and is
    escaped into the document) is harmless and is not looked at. What is looked at: every tag
    (a forbidden one: script, link, frame, object ...), every attribute that names a resource
    (entities decoded, so ``&#104;ttp:`` is seen as ``http:``), every event handler, every
    ``style`` attribute and the content of every ``<style>`` element (``url(``, ``@import``).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problem = ""
        self._style = 0

    def _refuse(self, what: str) -> None:
        self.problem = self.problem or what

    def handle_starttag(self, tag, attrs) -> None:
        self._tag(tag, attrs)
        if tag == "style":
            self._style += 1

    def handle_startendtag(self, tag, attrs) -> None:
        self._tag(tag, attrs)

    def handle_endtag(self, tag) -> None:
        if tag == "style" and self._style:
            self._style -= 1

    def handle_data(self, data) -> None:
        if self._style and _URL_IN_CSS.search(data):
            self._refuse("a CSS url() or @import in a <style> element")

    def _tag(self, tag: str, attrs) -> None:
        if tag in _FORBIDDEN_TAGS:
            self._refuse(f"a <{tag}> element")
        for name, value in attrs:
            v = (value or "").strip()
            if name in _REF_ATTRS and not (v.startswith("data:") or v.startswith("#")):
                self._refuse(f"{name} = {v[:80]!r}")
            elif name.startswith("on"):
                self._refuse(f"an event handler ({name})")
            elif name == "style" and _URL_IN_CSS.search(v):
                self._refuse("a CSS url() or @import in a style attribute")


def _check_markup(markup: str, where: str) -> None:
    """Refuse markup that loads anything from outside the document or runs a script.

    The check reads the markup the way a browser does (:class:`_MarkupScan`), not as a string:
    text inside it that was escaped is inert and never refused.
    """
    scan = _MarkupScan()
    scan.feed(markup)
    scan.close()
    if scan.problem:
        raise SimtrialError(f"html error: {where} contains {scan.problem}; only data: URIs and "
                            "#anchors are allowed, and no script, link, frame or CSS url() (the "
                            "document must be self-contained and script-free)")


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


def check_targets(out_dir, filename: str = "report.html", figure_names=()) -> None:
    """Refuse to write a document where a path it would write through is not a plain folder or
    file of ``out_dir`` itself.

    ``figures/`` is written into and the document is renamed onto ``<out_dir>/<filename>``: a
    symbolic link in either place would be followed (``figures -> /elsewhere`` puts the PNG and
    SVG files outside the folder), a folder in the document's place or a file in place of
    ``figures/`` would fail half-way. Called before anything is rendered (and by
    :mod:`simtrial.present.report` before the re-simulation), so the refusal costs nothing and
    leaves nothing behind. ``out_dir`` itself may be a link: that is the folder the user named.

    Raises
    ------
    SimtrialError
        One line naming the path and what it is.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SimtrialError(f"html error: out_dir = {str(out)!r} exists and is not a folder")
    doc, figs = out / filename, out / "figures"
    hint = "remove it (the document and figures/ are written inside the folder only)"
    for p, what in ((doc, "the document"), (figs, "the figures folder")):
        if p.is_symlink():
            raise SimtrialError(f"html error: {str(p)!r} ({what}) is a symbolic link to "
                                f"{os.readlink(p)!r}; links are not followed out of the folder; "
                                f"{hint}")
    if doc.is_dir():
        raise SimtrialError(f"html error: {str(doc)!r} is a folder, not a file; {hint}")
    if figs.exists() and not figs.is_dir():
        raise SimtrialError(f"html error: {str(figs)!r} is a file, not a folder; {hint}")
    for name in figure_names:
        for ext in ("png", "svg"):
            p = figs / f"{name}.{ext}"
            if p.is_dir() and not p.is_symlink():
                raise SimtrialError(f"html error: {str(p)!r} is a folder, not a file; {hint}")


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
        Bad file or figure names (one line), duplicate figure names, ``Section.html`` that
        references anything but ``data:`` URIs and ``#`` anchors, or a symbolic link, folder or
        file where the document or ``figures/`` goes (:func:`check_targets`): nothing is written
        then. An OS error while writing (read-only folder, full disk) is one line too.

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
        check_targets(out, filename, [f.name for f in figs])
        try:
            return _write(out, title, subtitle, sections, filename, figs)
        except OSError as exc:      # read-only folder, full disk, a path changed meanwhile
            raise SimtrialError(f"html error: cannot write the document into {str(out)!r} "
                                f"({exc.strerror or exc})") from None
    finally:
        for f in figs:
            plt.close(f.fig)


def _write(out: Path, title: str, subtitle: str, sections: list[Section], filename: str,
           figs: list[Figure]) -> dict[str, Path]:
    """Render into a staging folder inside ``out``, then rename every file into place."""
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
