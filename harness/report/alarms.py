"""The report's alarm section: each alarm's state over the run as a coloured band, beside the
fault windows, and per fault the time to detect (fault start → ALARM) and to recover (fault
end → OK). Input: ``RunData.alarms`` (:func:`harness.scenario.alarm_checks.report_section`)."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["alarm_section"]

_COLOURS = {"OK": "#66bb6a", "ALARM": "#e53935", "INSUFFICIENT_DATA": "#bdbdbd"}


def _band(segments: list[tuple[float, float, str, str]], total: float) -> str:
    parts = []
    for start, end, colour, title in segments:
        left = max(0.0, start) / total * 100
        width = max(0.0, min(end, total) - max(0.0, start)) / total * 100
        parts.append(
            f"<div title='{html.escape(title)}' style='position:absolute;left:{left:.3f}%;"
            f"width:{width:.3f}%;top:0;bottom:0;background:{colour}'></div>"
        )
    return (
        "<div style='position:relative;height:14px;background:#f5f5f5;margin:2px 0'>"
        + "".join(parts)
        + "</div>"
    )


def alarm_section(alarms: dict[str, Any], faults: list[Any], duration_s: float) -> str:
    if not alarms:
        return ""
    total = max(duration_s, 1.0)
    rows = []
    fault_segments = [
        (f.start_s, f.end_s, "#ffb74d", f"{f.label}: {f.start_s:.0f}-{f.end_s:.0f} s")
        for f in faults
    ]
    rows.append(f"<tr><td><em>faults</em></td><td>{_band(fault_segments, total)}</td></tr>")
    for line in alarms.get("timelines") or []:
        state = str(line.get("initial"))
        t = 0.0
        segments = []
        for change in line.get("changes") or []:
            segments.append(
                (
                    t,
                    change["t"],
                    _COLOURS.get(state, "#999"),
                    f"{state} {t:.0f}-{change['t']:.0f} s",
                )
            )
            t, state = float(change["t"]), str(change["state"])
        segments.append((t, total, _COLOURS.get(state, "#999"), f"{state} from {t:.0f} s"))
        rows.append(
            f"<tr><td>{html.escape(str(line.get('alarm')))}</td><td style='width:70%'>"
            f"{_band(segments, total)}</td></tr>"
        )
    detect_rows = "".join(
        f"<tr><td>{html.escape(str(r['fault']))}</td><td>{html.escape(str(r['alarm']))}</td>"
        f"<td>{r['detected_s']:g} s</td>"
        f"<td>{'not within the run' if r['recovered_s'] is None else format(r['recovered_s'], 'g') + ' s'}</td></tr>"
        for r in alarms.get("faults") or []
    )
    scale = float(alarms.get("scale") or 1.0)
    notes = []
    if scale != 1:
        notes.append(f"Alarm periods were scaled down {scale:g}x (alarm_period_scale).")
    notes += [f"Not evaluated: {p}" for p in alarms.get("problems") or []]
    if alarms.get("error"):
        notes.append(str(alarms["error"]))
    actions = alarms.get("actions") or []
    action_rows = "".join(
        f"<tr><td>{a['time']}</td><td>{html.escape(str(a['alarm']))}</td><td>{a['state']}</td>"
        f"<td>{html.escape(str(a['action']))}</td><td>{'yes' if a['delivered'] else 'no'}</td>"
        f"<td>{html.escape(str(a['detail']))}</td></tr>"
        for a in actions
    )
    return (
        "<h2>Alarms</h2>"
        + "".join(f"<p class='meta'>{html.escape(n)}</p>" for n in notes)
        + "<p class='meta'>green OK, red ALARM, grey INSUFFICIENT_DATA; orange: fault windows</p>"
        + "<table>" + "".join(rows) + "</table>"
        + ("<table><tr><th>fault</th><th>alarm</th><th>time to detect</th>"
           "<th>time to recover</th></tr>" + detect_rows + "</table>" if detect_rows
           else "<p>No alarm went to ALARM after a fault started.</p>")
        + ("<table><tr><th>time</th><th>alarm</th><th>state</th><th>action</th><th>delivered</th>"
           "<th>detail</th></tr>" + action_rows + "</table>" if action_rows else "")
    )  # fmt: skip
