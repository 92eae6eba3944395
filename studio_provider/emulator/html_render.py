"""Small server-rendered HTML: every value escaped unless it is markup this module built.

Job names, log lines, error messages and dataset names come from whoever submitted the job, so they are
untrusted. Pages are assembled from :class:`Markup` fragments only; :func:`html` fills a literal template
with values, escaping each one that is not already ``Markup``. No JavaScript: the page's
Content-Security-Policy (see ``pages``) forbids scripts outright, as a second line behind the escaping.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable
from datetime import datetime, timezone

from .vocabulary import DatasetVersionStatus

#: A log page shows at most this many of a job's newest lines, each cut at this many characters.
MAX_LOG_LINES = 5000
MAX_LINE_CHARS = 5000
EMPTY = "—"

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 10px 24px; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header span { color: #aab; margin-left: 12px; font-size: 12px; }
main { padding: 16px 24px 40px; max-width: 1200px; }
h1 { font-size: 20px; margin: 8px 0 12px; word-break: break-all; }
h2 { font-size: 16px; margin: 24px 0 8px; }
a { color: #2456c8; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: #5b6477; } dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; background: #fff; min-width: 50%; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
th { background: #eceff3; font-weight: 600; }
pre { background: #fff; border: 1px solid #e3e6eb; padding: 8px 12px; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; margin: 0; }
pre.log span.id { color: #98a; user-select: none; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
          background: #dde2ea; color: #333; }
.ok { background: #d3f2dc; color: #14602c; } .bad { background: #fadbd8; color: #8b1c12; }
.active { background: #d8e6fd; color: #1a47a0; } .off { background: #e6e6e6; color: #555; }
.note { color: #5b6477; font-size: 12px; }
"""

_STATUS_CLASS = {
    "COMPLETE": "ok",
    "COMPLETED": "ok",
    "TASK": "ok",
    "FAILED": "bad",
    "CANCELED": "off",
    "CANCELING": "off",
    "CANCELING_SCHEDULED": "off",
    "PAUSED": "off",
}


class Markup(str):
    """Text that is already HTML (built by this module); everything else gets escaped."""


def escape(value: object) -> Markup:
    """``value`` as HTML text (``None`` as a dash); ``Markup`` passes unchanged."""
    if isinstance(value, Markup):
        return value
    return Markup(_html.escape(EMPTY if value is None else str(value), quote=True))


def html(template: str, *values: object) -> Markup:
    """Fill the ``{}`` of a literal ``template`` with ``values``, each escaped unless it is ``Markup``."""
    return Markup(template.format(*(escape(value) for value in values)))


def join(parts: Iterable[Markup], separator: str = "") -> Markup:
    return Markup(separator.join(escape(part) for part in parts))


def link(href: str, text: object) -> Markup:
    """An ``<a>``; ``href`` is a path this emulator built (percent-encoded), escaped for the attribute too."""
    return html('<a href="{}">{}</a>', href, text)


def when(value: datetime | None) -> Markup:
    """A time in UTC to the second, or a dash."""
    if value is None:
        return escape(None)
    return escape(value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"))


def size(value: int | None) -> Markup:
    """Bytes as a readable size, the exact count in the tooltip."""
    if value is None:
        return escape(None)
    amount, unit = float(value), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            break
        amount /= 1024
    text = f"{value} B" if unit == "B" else f"{amount:.1f} {unit}"
    return html('<span title="{} bytes">{}</span>', value, text)


def status_badge(name: str) -> Markup:
    """A job or pipeline status as a coloured badge (the class comes from a fixed table, never the value)."""
    css = _STATUS_CLASS.get(name, "active")
    return html('<span class="status {}">{}</span>', css, name)


def version_badge(value: int) -> Markup:
    """A dataset version's integer status with its name."""
    try:
        name = DatasetVersionStatus(value).name
    except ValueError:
        name = "UNKNOWN"
    css = {"COMPLETE": "ok", "FAILED": "bad"}.get(name, "off" if name.startswith("REMOV") else "active")
    return html('<span class="status {}">{} ({})</span>', css, name, value)


def fields(rows: Iterable[tuple[str, object]]) -> Markup:
    """A definition list of (label, value) rows."""
    return html("<dl>{}</dl>", join(html("<dt>{}</dt><dd>{}</dd>", label, value) for label, value in rows))


def table(headings: Iterable[str], rows: Iterable[Iterable[object]], empty: str = "None yet.") -> Markup:
    """A table, or a note saying ``empty`` when there are no rows."""
    body = [html("<tr>{}</tr>", join(html("<td>{}</td>", cell) for cell in row)) for row in rows]
    if not body:
        return html('<p class="note">{}</p>', empty)
    head = join(html("<th>{}</th>", heading) for heading in headings)
    return html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, join(body))


def log_lines(lines: list[tuple[int, str]]) -> Markup:
    """A job's newest log lines with their ids, bounded (see ``MAX_LOG_LINES``, ``MAX_LINE_CHARS``)."""
    if not lines:
        return html('<p class="note">{}</p>', "No log lines yet.")
    shown = lines[-MAX_LOG_LINES:]
    parts = []
    for line_id, message in shown:
        text = message.rstrip("\n")
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + f" … ({len(text) - MAX_LINE_CHARS} more characters)"
        parts.append(html('<span class="id">{} </span>{}\n', line_id, text))
    hidden = len(lines) - len(shown)
    note = html('<p class="note">{} earlier lines are not shown.</p>', hidden) if hidden else Markup()
    return html('{}<pre class="log">{}</pre>', note, join(parts))


def page(title: str, body: Markup, refresh_seconds: int | None = None) -> str:
    """A whole page; ``refresh_seconds`` reloads it while what it shows is still changing (no script)."""
    refresh = html('<meta http-equiv="refresh" content="{}">', refresh_seconds) if refresh_seconds else Markup()
    return html(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{}'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{} · Studio emulator</title><style>{}</style></head>"
        '<body><header><a href="/">DataChain Studio</a><span>local emulator</span></header>'
        "<main>{}</main></body></html>\n",
        refresh,
        title,
        Markup(_STYLE),
        body,
    )
