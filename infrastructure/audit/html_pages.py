"""Self-contained HTML pages: the auditor's case timeline and the intake and outcome report.

Self-contained: one file, inline CSS, charts as inline SVG drawn here; no script, no font, no
image or link to fetch. A Content-Security-Policy of ``default-src 'none'`` says so to the browser
too, so even a mistake here could not make the page reach out. Everything that comes from the
record (notes, reasons, ids) is escaped (``escape``: ``html.escape`` after ``domain.text.neutralise``): a
note is free text typed by a person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape as _html_escape
from typing import Any

from domain.case.aggregate import Case
from domain.text import neutralise
from projections.describe import facts_in_words, readable_hours, readable_time, what, why, words
from projections.safeguarding_history import SAFETY_RELEVANT

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1b1b1b;max-width:1100px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #1d70b8}
.meta{color:#505a5f;margin-bottom:16px} table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{text-align:left;vertical-align:top;padding:5px 8px;border-bottom:1px solid #d8dde0}
th{background:#f3f2f1} td.n{text-align:right} .kind{font-weight:600}
tr.safety td:first-child{border-left:4px solid #d4351c} tr.other td:first-child{border-left:4px solid #b1b4b6}
tr.corrected td{background:#f3f2f1} .correction{margin-top:4px;padding:4px 8px;border-left:4px solid #f47738;
background:#fff} .tag{display:inline-block;
padding:0 6px;border-radius:3px;background:#1d70b8;color:#fff;font-size:12px;margin-right:4px}
.tag.warn{background:#d4351c} .tag.ok{background:#00703c} .tag.error{background:#f47738;color:#0b0c0c}
.tag.pending{background:#fff;color:#505a5f;border:1px solid #b1b4b6;font-size:11px}
.facts{margin:4px 0 0;font-size:12px;color:#505a5f} .facts strong{font-weight:600;color:#1b1b1b}
td.when{white-space:nowrap} .small{font-size:12px;color:#505a5f}
pre{white-space:pre-wrap;margin:0;font:12px/1.35 ui-monospace,monospace}
.verified,.broken{padding:8px 12px;margin:0 0 14px;border-left:6px solid #00703c;background:#e7f3ec}
.broken{border-left-color:#d4351c;background:#fbe9e6;font-weight:600} code{font:12px ui-monospace,monospace}
tr.failed td{background:#fbe9e6}
"""


def escape(text: str) -> str:
    """HTML-escaped, with control and invisible characters shown as escapes (domain/text.py): a note
    with a right-to-left override must not read backwards on an auditor's page."""
    return _html_escape(neutralise(text))


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _t(at: datetime | str | None) -> str:
    return escape(readable_time(at))


# ---------------------------------------------------------------------------- the case timeline

_GROUNDS = ("facts", "unmet", "doubts", "doubts_checked", "criteria_met")


def _grounds(event: Case.Event) -> str:
    """The recorded grounds of a decision (never re-computed), each escaped."""
    parts: list[str] = []
    match event:
        case Case.ReferredToSpecialistTeam():
            parts.append(_policy_tag(event.policy_version))
            if event.discretionary:
                parts.append('<span class="tag warn">discretionary</span>')
            parts.extend(f'<span class="tag ok">{escape(words(code))}</span>' for code in event.criteria_met)
            parts.append(_facts(event.facts))
        case Case.ReferralNotMade():
            parts.append(_policy_tag(event.policy_version))
            for name, codes in event.unmet.items():
                parts.append(
                    f'<div class="small">{escape(words(name))}: not met: {escape(", ".join(map(words, codes)))}</div>'
                )
            parts.append(_facts(event.facts))
        case Case.RemovalRefused():
            parts.append("<div>Doubt about safety, each found on its own:</div>")
            for code, explanation in dict.fromkeys(
                (str(d.get("code", "")), str(d.get("explanation", ""))) for d in event.doubts
            ):
                parts.append(f'<div><span class="tag warn">{escape(words(code))}</span> {escape(explanation)}</div>')
    return "".join(parts)


def _why(event: Case.Event) -> str:
    """The why, once: where the grounds list the criteria, unmet tests or doubts themselves, only
    the person's own reason is added to them (``describe.why`` repeats them for one-line readers)."""
    if isinstance(event, Case.RemovalRefused):
        return ""
    if isinstance(event, Case.ReferredToSpecialistTeam | Case.ReferralNotMade):
        return f"<div>{escape(str(event.reason))}</div>" if event.reason else ""
    return escape(why(event))


def _policy_tag(version: str) -> str:
    return f'<span class="tag">policy {escape(str(version))}</span>' if version else ""


def _facts(facts: dict[str, Any]) -> str:
    if not facts:
        return ""
    shown = "".join(f"<div>{escape(k)}: <strong>{escape(v)}</strong></div>" for k, v in facts_in_words(facts))
    return f'<div class="facts"><div>Facts recorded:</div>{shown}</div>'


def _integrity_banner(evidence: Any) -> str:
    """What verifying the case found, before anything it shows (``evidence.CaseEvidence``)."""
    problems = evidence.problems()
    if problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in problems)
        return (
            '<div class="broken">FAILED VERIFICATION: this record is not what the log signed. What is stored is'
            f" shown below, but it is not evidence until the breaks are explained.<ul>{items}</ul>"
            f"{_checked_against(evidence)}</div>"
        )
    root = (
        f'<div class="small">Checkpoint root hash <code>{evidence.checkpoint.root.hex()}</code>.</div>'
        if evidence.checkpoint is not None
        else ""
    )
    return f'<div class="verified">{escape(evidence.summary()[:1].upper() + evidence.summary()[1:])}.{root}</div>'


def _checked_against(evidence: Any) -> str:
    """The checkpoint the page was checked against, named whatever the verdict."""
    if evidence.checkpoint is None:
        return f'<div class="small">Checked against: no checkpoint yet (trusted key {escape(evidence.key)}).</div>'
    return (
        f'<div class="small">Checked against: the checkpoint of {evidence.checkpoint.size} events, signed'
        f" {_t(evidence.checkpoint_time)} by {escape(evidence.key)}, root hash"
        f" <code>{evidence.checkpoint.root.hex()}</code>.</div>"
    )


def _in_log(e: Any) -> str:
    """The log column: position, leaf hash, and whether its inclusion proof holds."""
    proved = {
        True: '<span class="tag ok">proved</span>',
        False: '<span class="tag warn">proof FAILS</span>',
        None: '<span class="tag pending">not yet signed</span>',
    }[e.included]
    return f'<td class="n">{e.row.position}<div class="small"><code>{e.leaf_hash.hex()[:16]}</code></div>{proved}</td>'


def case_timeline_html(
    case_id: Any,
    events: Sequence[Case.Event],
    *,
    generated_at: datetime,
    generated_for: str,
    evidence: Any = None,
) -> str:
    """The case's journey as a readable timeline: who, when (occurred and recorded), what, why,
    grounds; given ``evidence`` (``evidence.case_evidence``), verified first, the result at the top
    and each event's position, leaf hash and proof beside it (an event that no longer decodes is
    shown as such, in its place)."""
    corrected = {
        e.corrected_version: (e.originator_version, e.correction)
        for e in events
        if isinstance(e, Case.EntryRecordedInError)
    }
    rows: list[str] = []
    policies: set[str] = set()
    entries = evidence.events if evidence is not None else [None] * len(events)
    decoded = iter(events)
    for entry in entries:
        event = next(decoded) if entry is None or entry.event is not None else None
        log_cell = _in_log(entry) if entry is not None else ""
        if event is None:
            assert entry is not None
            rows.append(
                f'<tr class="safety failed"><td class="n">{entry.row.version}</td><td>-</td><td>-</td>'
                f'<td><span class="kind">cannot be decoded</span><div>{escape(entry.decode_problem or "")}</div></td>'
                f"<td>-</td>{log_cell}</tr>"
            )
            continue
        name = type(event).__name__  # shown as the event's kind, as stored
        if isinstance(event, Case.ReferredToSpecialistTeam | Case.ReferralNotMade) and event.policy_version:
            policies.add(str(event.policy_version))
        classes = ["safety" if name in SAFETY_RELEVANT else "other"]
        if entry is not None and entry.included is False:
            classes.append("failed")
        note = ""
        if event.originator_version in corrected:
            classes.append("corrected")
            by, correction = corrected[event.originator_version]
            note = (
                f'<div class="correction"><span class="tag error">recorded in error</span> corrected by'
                f' <a href="#v{by}">event {by}</a>: {escape(correction)}</div>'
            )
        rows.append(
            f'<tr class="{" ".join(classes)}" id="v{event.originator_version}">'
            f'<td class="n">{event.originator_version}</td>'
            f'<td class="when">{_t(event.occurred_at)}<div class="small">recorded {_t(event.timestamp)}</div></td>'
            f'<td>{escape(event.actor_id)}<div class="small">{escape(event.actor_role.replace("_", " "))}</div></td>'
            f'<td><span class="kind">{escape(name)}</span><div>{escape(what(event))}</div>{note}</td>'
            f"<td>{_why(event)}{_grounds(event)}</td>"
            f"{log_cell}</tr>"
        )
    first, last = (events[0], events[-1]) if events else (None, None)
    summary = (
        f"{len(entries)} events"
        + (f", {_t(first.occurred_at)} to {_t(last.occurred_at)}" if first and last else "")
        + (f"; eligibility policies applied: {escape(', '.join(sorted(policies)))}" if policies else "")
    )
    log_head = "<th>in the log (position, leaf hash, proof)</th>" if evidence is not None else ""
    body = (
        f"<h1>Safeguarding journey of case {escape(str(case_id))}</h1>"
        + (_integrity_banner(evidence) if evidence is not None else "")
        + f'<div class="meta">{summary}. Generated {_t(generated_at)} for {escape(generated_for)}.'
        " Red rows are safety-relevant; a grey row marked <em>recorded in error</em> was corrected by a later"
        " event (it stays in the record as it was written)."
        "</div>"
        "<table><thead><tr><th>#</th><th>when (occurred / recorded)</th><th>who</th><th>what</th>"
        f"<th>why and on what grounds</th>{log_head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )
    return _page(f"Case {case_id}: safeguarding journey", body)


# ---------------------------------------------------------------------------- the page of a bundle


def _field_time(name: str, value: Any) -> str:
    return readable_time(value) if value and (name.endswith("_since") or name.endswith("_at")) else words(value)


def bundle_html(data: Any, *, verified: str | None, broken: str | None) -> str:
    """The page of an evidence bundle, from the bundle alone (``verify-bundle --html``): what its
    check found at the top (``verified``: the verdict in words, or ``broken``: the first failure),
    then each event as the reader was shown it, with its place in the log, then the views replayed
    with it. Nothing here reads a clock or a store: the same bundle renders the same page, byte for
    byte. A bundle too malformed to show raises ``KeyError``/``TypeError``/``AttributeError``."""
    body = data["body"]
    case_id = str(body["case_id"])
    reader = body.get("reader") or {}
    events = body["events"]
    corrected = {
        int(e["shown"]["corrects"]): (int(e["version"]), e["shown"].get("why", ""))
        for e in events
        if isinstance(e.get("shown"), dict) and e["shown"].get("corrects") is not None
    }
    state = '<span class="tag ok">proved</span>' if broken is None else '<span class="tag warn">not verified</span>'
    rows: list[str] = []
    for e in events:
        shown = e.get("shown")
        where = (
            f'<td class="n">{int(e["position"])}<div class="small"><code>{escape(str(e["leaf_hash"])[:16])}</code>'
            f"</div>{state}</td>"
        )
        version = int(e["version"])
        if not isinstance(shown, dict):
            rows.append(
                f'<tr class="safety failed"><td class="n">{version}</td><td>-</td><td>-</td>'
                f'<td><span class="kind">cannot be decoded</span><div>{escape(str(e.get("problem") or ""))}</div>'
                f"</td><td>-</td>{where}</tr>"
            )
            continue
        kind = str(shown.get("kind", ""))
        classes = ["safety" if kind in SAFETY_RELEVANT else "other"] + (["failed"] if broken else [])
        note = ""
        if version in corrected:
            classes.append("corrected")
            by, correction = corrected[version]
            note = (
                f'<div class="correction"><span class="tag error">recorded in error</span> corrected by'
                f' <a href="#v{by}">event {by}</a>: {escape(str(correction))}</div>'
            )
        rows.append(
            f'<tr class="{" ".join(classes)}" id="v{version}"><td class="n">{version}</td>'
            f'<td class="when">{_t(shown.get("occurred_at"))}<div class="small">recorded'
            f" {_t(shown.get('recorded_at'))}</div></td>"
            f'<td>{escape(str(shown.get("actor", "")))}<div class="small">'
            f"{escape(str(shown.get('role', '')).replace('_', ' '))}</div></td>"
            f'<td><span class="kind">{escape(kind)}</span><div>{escape(str(shown.get("what", "")))}</div>{note}</td>'
            f"<td>{escape(str(shown.get('why', '')))}</td>{where}</tr>"
        )
    if broken is None:
        banner = f'<div class="verified">{escape(verified or "verified")}.</div>'
    else:
        banner = (
            '<div class="broken">FAILED VERIFICATION: this bundle is not what the service sealed, or not of the'
            " log the trusted key signed. What it holds is shown below, but it is not evidence."
            f"<ul><li>{escape(broken)}</li></ul></div>"
        )
    views = body.get("views") or {}
    moment = views.get("moment", "now")
    assignment = views.get("team_assignment") or {}
    history = views.get("safeguarding_history") or []
    assignment_rows = [
        [words(k), _field_time(k, v)] for k, v in assignment.items() if k not in ("case_id", "case_version")
    ]
    history_rows = [
        [h.get("case_version"), readable_time(h.get("occurred_at")), h.get("event_type"), h.get("what"), h.get("why")]
        for h in history
    ]
    as_of = f"as of {readable_time(body.get('as_of'))}" if body.get("as_of") else "as the case stood when it was read"
    page = (
        f"<h1>Evidence bundle of case {escape(case_id)}</h1>"
        + banner
        + f'<div class="meta">{len(events)} events, {escape(as_of)}. Read by {escape(str(reader.get("id", "")))}'
        f" ({escape(str(reader.get('role', '')))}) for &ldquo;{escape(str(reader.get('purpose', '')))}&rdquo; at"
        f" {_t(reader.get('read_at'))}; the read was recorded by the service. This page is rendered from the"
        " bundle alone: the same bundle renders the same page. Red rows are safety-relevant; a grey row marked"
        " <em>recorded in error</em> was corrected by a later event.</div>"
        "<table><thead><tr><th>#</th><th>when (occurred / recorded)</th><th>who</th><th>what</th><th>why</th>"
        "<th>in the log (position, leaf hash, proof)</th></tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>"
        + f"<h2>Team assignment ({escape(str(moment))}, version {escape(str(views.get('version', '-')))})</h2>"
        + _table(["field", "value"], assignment_rows)
        + "<h2>Safeguarding history</h2>"
        + _table(["#", "occurred", "event", "what", "why"], history_rows)
    )
    return _page(f"Evidence bundle of case {case_id}", page)


# ---------------------------------------------------------------------------- charts and the report


#: colours that mean what they say: met green, missed red (the GOV.UK palette)
MEANING = {
    "met": "#00703c",
    "missed": "#d4351c",
    "missed target": "#d4351c",
    "open within target": "#1d70b8",
    "overdue not yet recorded": "#f47738",
    "closed late unrecorded": "#4c2c92",
    "raised": "#1d70b8",
    "resolved": "#00703c",
    "recorded": "#505a5f",
    "referred": "#1d70b8",
    "not referred": "#b1b4b6",
    "discretionary": "#f47738",
    "candidate": "#1d70b8",
}


def bar_chart(
    title: str,
    data: Mapping[str, Mapping[str, float]] | Mapping[str, float],
    *,
    width: int = 640,
    grouped: bool = False,
) -> str:
    """A horizontal bar chart as inline SVG: one bar per key, one colour per series. Stacked when
    the series are parts of one whole; ``grouped`` (side by side, each with its own count) when
    they overlap (resolved escalations are some of those raised; recorded vs candidate)."""
    if grouped:
        return _grouped_chart(title, data, width=width)
    palette = ["#1d70b8", "#d4351c", "#00703c", "#f47738", "#4c2c92", "#b1b4b6"]
    rows: list[tuple[str, dict[str, float]]] = [
        (str(k), {_label(s): n for s, n in v.items()} if isinstance(v, Mapping) else {"count": float(v)})
        for k, v in data.items()
    ]
    named = list(dict.fromkeys(s for _, vs in rows for s in vs))
    series: list[str] = list(dict.fromkeys(s for _, vs in rows for s, n in vs.items() if n))
    colour = {s: MEANING.get(s) or palette[(named.index(s) if s in named else 0) % 6] for s in series}
    bar_h, gap, label_w, top = 18, 6, 190, 26
    legend_h = 20 if len(series) > 1 else 0
    height = top + legend_h + len(rows) * (bar_h + gap) + 10
    peak = max((sum(v.values()) for _, v in rows), default=0) or 1
    scale = (width - label_w - 60) / peak
    parts = _svg_head(title, width, height)
    if legend_h:
        parts += _legend(series, colour, label_w, top)
    y = top + legend_h
    for key, values in rows:
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(key[:30])}</text>')
        x = float(label_w)
        for s in series:
            w = values.get(s, 0) * scale
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour[s]}">'
                    f"<title>{escape(f'{key}: {s} {values[s]:g}')}</title></rect>"
                )
                x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 13}">{sum(values.values()):g}</text>')
        y += bar_h + gap
    if not rows:
        parts.append(f'<text x="{label_w}" y="{top + 12}" fill="#505a5f">nothing in this period</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_head(title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]


def _legend(series: Sequence[str], colour: Mapping[str, str], x: int, top: int) -> list[str]:
    """One swatch and name per series, in a row from ``x``."""
    parts: list[str] = []
    for s in series:
        parts.append(f'<rect x="{x}" y="{top - 4}" width="10" height="10" fill="{colour[s]}"/>')
        parts.append(f'<text x="{x + 14}" y="{top + 5}">{escape(s)}</text>')
        x += 24 + 7 * len(s)
    return parts


def _label(series: str) -> str:
    return series.replace("_", " ")


def _grouped_chart(title: str, data: Mapping[str, Mapping[str, float]] | Mapping[str, float], *, width: int) -> str:
    """One thin bar per series under each key, each with its own count: nothing adds up by accident."""
    palette = ["#1d70b8", "#505a5f", "#00703c", "#f47738", "#4c2c92", "#d4351c"]
    rows = [
        (str(k), {_label(s): float(n) for s, n in (v.items() if isinstance(v, Mapping) else [("count", v)])})
        for k, v in data.items()
    ]
    series = list(dict.fromkeys(s for _, vs in rows for s in vs))
    colour = {s: MEANING.get(s, palette[i % 6]) for i, s in enumerate(series)}
    bar_h, gap, label_w, top, legend_h = 12, 10, 190, 26, 20
    height = top + legend_h + len(rows) * (len(series) * (bar_h + 2) + gap) + 10
    peak = max((n for _, vs in rows for n in vs.values()), default=0) or 1
    scale = (width - label_w - 140) / peak  # room for each bar's "series n" label
    parts = _svg_head(title, width, height)
    parts += _legend(series, colour, label_w, top)
    y = top + legend_h
    for key, values in rows:
        parts.append(f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end">{escape(key[:30])}</text>')
        for s in series:
            n = values.get(s, 0)
            w = n * scale
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour[s]}">'
                f"<title>{escape(f'{key}: {s} {n:g}')}</title></rect>"
                f'<text x="{label_w + w + 4:.1f}" y="{y + 10}" font-size="11">{escape(s)} {n:g}</text>'
            )
            y += bar_h + 2
        y += gap
    if not rows:
        parts.append(f'<text x="{label_w}" y="{top + 12}" fill="#505a5f">nothing in this period</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if isinstance(c, int | float) else ''}>{escape(str(c))}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: dict[str, Any], *, title: str = "Intake and outcome report") -> str:
    start = _t(report["from"]) if report.get("from") else "the beginning"
    period = f"{start} to {_t(report['to']) if report.get('to') else 'now'}"
    parts = [
        f"<h1>{escape(title)}</h1>",
        f'<div class="meta">Period: {escape(period)}; as of {_t(report["now"])}, the log read up to position'
        f" {report.get('log_position', 0)} (the same position gives the same report).</div>",
    ]
    parts.append(
        "<h2>Referrals per week</h2>" + bar_chart("Referral decisions per ISO week", report["referrals_per_week"])
    )
    parts.append(
        "<h2>Referrals by criterion</h2>" + bar_chart("Referrals by criterion met", report["referrals_by_criterion"])
    )
    fc = report["first_concern_to_referral"]
    ts = report["time_in_specialist_team"]
    parts.append(
        "<h2>Durations</h2>"
        + _table(
            ["measure", "count", "median", "mean", "min", "max"],
            [
                [
                    "first concern to referral",
                    fc["count"],
                    readable_hours(fc["median_hours"]),
                    readable_hours(fc["mean_hours"]),
                    readable_hours(fc["min_hours"]),
                    readable_hours(fc["max_hours"]),
                ],
                *[
                    [
                        f"time in the Specialist Case Team ({k})",
                        v["count"],
                        readable_hours(v["median_hours"]),
                        readable_hours(v["mean_hours"]),
                        readable_hours(v["min_hours"]),
                        readable_hours(v["max_hours"]),
                    ]
                    for k, v in ts.items()
                ],
            ],
        )
        + f'<div class="small">Referred with no concern recorded before (e.g. ACS only): {fc["without_concern"]}</div>'
    )
    parts.append(
        "<h2>Removal from the Specialist Case Team</h2>"
        + bar_chart("Removal requests and decisions", report["removals"])
        + bar_chart("Refusals by doubt found", report["refusal_reasons"])
    )
    parts.append(
        "<h2>Expedited pathways and target times</h2>"
        + bar_chart(
            "Pathways by reason and outcome",
            {r: {m: n for m, n in c.items() if m != "opened"} for r, c in report["expedited"].items()},
            width=900,
        )
    )
    parts.append(
        "<h2>Escalations by route</h2>" + bar_chart("Escalations", report["escalations_by_route"], grouped=True)
    )
    issues = report["service_design_issues"]
    parts.append(
        "<h2>Service-design issues raised by ACS senior leaders</h2>"
        + _table(
            ["raised", "by", "case", "summary", "escalation it came from"],
            [
                [
                    readable_time(i["raised_at"]),
                    i["raised_by"],
                    i["case_id"],
                    i["summary"],
                    i["escalation_reason"] or "-",
                ]
                for i in issues
            ],
        )
    )
    return _page(title, "\n".join(parts))


def impact_html(impact: dict[str, Any]) -> str:
    counts = impact["counts"]
    parts = [
        f"<h1>Impact of candidate policy {escape(impact['candidate_policy'])}</h1>",
        f'<div class="meta">{counts["decisions"]} recorded decisions on {counts["cases"]} cases re-evaluated:'
        f" {counts['newly_eligible']} newly eligible, {counts['no_longer_eligible']} no longer eligible,"
        f" {counts['discretionary']} discretionary referrals (reported apart).</div>",
        bar_chart(
            "Decisions meeting each criterion",
            {k: {"recorded": v["recorded"], "candidate": v["candidate"]} for k, v in impact["by_criterion"].items()},
            grouped=True,
        ),
        bar_chart("Changes by source of concern", impact["by_source"]),
        bar_chart("Changes by service type", impact["by_service_type"]),
        bar_chart("Changes by team", impact["by_team"]),
        "<h2>Cases whose outcome would change</h2>"
        + _table(
            ["case", "decided", "change", "recorded", "criteria behind it"],
            [
                [c["case_id"], c["occurred_at"], c["change"], c["recorded"], c["criteria_behind"]]
                for c in impact["changes"]
            ],
        ),
    ]
    return _page(f"Impact of {impact['candidate_policy']}", "\n".join(parts))
