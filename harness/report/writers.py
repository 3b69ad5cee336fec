"""Report writers: ``summary.json`` (DESIGN.md schema), ``junit.xml`` (one test case per
expectation) and ``report.html`` (one self-contained file with inline SVG plots).

Each expectation is ``passed``, ``failed`` or ``inconclusive`` (no data to judge), shown apart
everywhere: ``status`` and the ``statuses`` counts in ``summary.json``; in ``junit.xml`` an
inconclusive expectation is a ``<failure type="inconclusive">`` (or ``<skipped>`` when the
scenario allowed it with ``allow_empty``); in ``report.html`` its own mark and colour.

Writers are a named registry (``"summary"``, ``"junit"``, ``"html"``) so others can be added.
"""

from __future__ import annotations

import html
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.report.data import RunData

__all__ = ["WRITERS", "render_all", "summary_json"]


def _counts(run: RunData) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "inconclusive": 0}
    for e in run.expectations:
        counts[e.status] = counts.get(e.status, 0) + 1
    return counts


def summary_json(run: RunData) -> dict[str, Any]:
    return {
        "title": run.title,
        "passed": run.passed,
        "statuses": _counts(run),
        "seed": run.seed,
        "started_at": run.started_at,
        "duration_s": round(run.duration_s, 3),
        "phases": [p.summary() for p in run.phases],
        "expectations": [
            {**e.summary(), "trace_ids": [t["trace_id"] for t in run.traces.get(e.name, [])]}
            for e in run.expectations
        ],
        "faults": [
            {"label": f.label, "start_s": f.start_s, "end_s": f.end_s, "kind": f.kind}
            for f in run.faults
        ],
        "tenants": run.tenants,
        "counters": run.counters,
        "warnings": run.warnings,
        "isolation": run.isolation,
        "profile_slos": run.environment.get("profile_slos", []),
        "scenario_file": run.scenario_file,
        # per fault: time to detect / to recover per alarm; timelines stay in raw.json
        "alarms": {k: v for k, v in run.alarms.items() if k != "timelines"},
    }


def write_summary(run: RunData, folder: Path) -> Path:
    path = folder / "summary.json"
    path.write_text(json.dumps(summary_json(run), indent=2, default=str) + "\n")
    return path


def write_junit(run: RunData, folder: Path) -> Path:
    failures = sum(not e.passed for e in run.expectations)
    skipped = sum(e.inconclusive and e.passed for e in run.expectations)
    suite = ET.Element(
        "testsuite",
        name=run.title,
        tests=str(len(run.expectations)),
        failures=str(failures),
        skipped=str(skipped),
        errors="0",
        time=f"{run.duration_s:.3f}",
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(run.started_at)),
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="seed", value=str(run.seed))
    ET.SubElement(props, "property", name="scenario", value=run.scenario_file)
    for expectation in run.expectations:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"gameday.{_slug(run.title)}",
            name=expectation.name,
            time="0",
        )
        if expectation.inconclusive and expectation.passed:
            ET.SubElement(case, "skipped", message=f"inconclusive (allowed): {expectation.detail}")
        elif not expectation.passed:
            failure = ET.SubElement(
                case,
                "failure",
                message=(
                    f"inconclusive: {expectation.detail}"
                    if expectation.inconclusive
                    else f"observed {expectation.observed!r}, target {expectation.target!r}"
                ),
                type="inconclusive"
                if expectation.inconclusive
                else expectation.kind or "expectation",
            )
            failure.text = (
                expectation.detail
                or f"observed={expectation.observed!r} target={expectation.target!r}"
            )
        else:
            ET.SubElement(
                case, "system-out"
            ).text = f"observed={expectation.observed!r} target={expectation.target!r}"
    suites = ET.Element("testsuites", tests=str(len(run.expectations)), failures=str(failures))
    suites.append(suite)
    ET.indent(suites)
    path = folder / "junit.xml"
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_html(run: RunData, folder: Path) -> Path:
    from harness.report.plots import all_plots

    plots = all_plots(run)
    status = "PASSED" if run.passed else "FAILED"
    counts = _counts(run)
    if counts["inconclusive"]:
        status += f" ({counts['inconclusive']} inconclusive)"
    marks = {"passed": ("ok", "✔"), "failed": ("bad", "✘"), "inconclusive": ("inc", "?")}
    rows = "".join(
        f"<tr class='{marks[e.status][0]}{'' if e.passed else ' bad'}' data-status='{e.status}'>"
        f"<td title='{e.status}'>{marks[e.status][1]} {e.status}</td>"
        f"<td>{html.escape(e.name)}</td><td>{html.escape(_fmt(e.observed))}</td>"
        f"<td>{html.escape(_fmt(e.target))}</td><td>{html.escape(e.detail)}"
        f"{_trace_link(run, e.name)}</td></tr>"
        for e in run.expectations
    )
    phase_rows = "".join(
        f"<tr><td>{html.escape(p.name)}</td><td>{p.start_s:.0f}-{p.end_s:.0f} s</td><td>{p.requests}</td>"
        f"<td>{p.rps:.1f}</td><td>{'' if p.target_rps is None else f'{p.target_rps:g}'}</td>"
        f"<td>{p.p50_ms:.1f}</td><td>{p.p95_ms:.1f}</td><td>{p.p99_ms:.1f}</td>"
        f"<td>{p.error_rate * 100:.2f}%</td><td>{p.dropped}</td></tr>"
        for p in run.phases
    )
    fault_rows = "".join(
        f"<tr><td>{html.escape(f.label)}</td><td>{html.escape(f.kind)}</td><td>{f.start_s:.0f} s</td>"
        f"<td>{f.end_s:.0f} s</td></tr>"
        for f in run.faults
    )
    figures = "".join(
        f"<figure id='plot-{name}'><figcaption>{html.escape(caption)}</figcaption>{svg}</figure>"
        for name, caption, svg in plots
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in run.warnings)
    extra = _extra_sections(run)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.started_at))
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(run.title)} - {status}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
h1 .status {{ font-size: .6em; padding: .2em .6em; border-radius: .3em; color: white;
  background: {"#2e7d32" if run.passed else "#c62828"}; vertical-align: middle; }}
table {{ border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: .9rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; }}
tr.bad td {{ background: #fdecea; }} tr.ok td:first-child {{ color: #2e7d32; }}
tr.bad td:first-child {{ color: #c62828; }}
tr.inc td {{ background: #fff8e1; }} tr.inc td:first-child {{ color: #b26a00; }}
figure {{ margin: 1.5rem 0; }} figcaption {{ font-weight: 600; margin-bottom: .3rem; }}
figure svg {{ width: 100%; height: auto; }} .meta {{ color: #666; }}
</style></head><body>
<h1>{html.escape(run.title)} <span class="status">{status}</span></h1>
<p class="meta">started {started} · {run.duration_s:.0f} s · seed {run.seed} ·
{html.escape(run.scenario_file)}</p>
<p>{html.escape(run.description)}</p>
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
<h2>Expectations</h2>
<table><tr><th></th><th>expectation</th><th>observed</th><th>target</th><th>detail</th></tr>{rows}</table>
<h2>Phases</h2>
<table><tr><th>phase</th><th>window</th><th>requests</th><th>RPS</th><th>target</th><th>p50 ms</th>
<th>p95 ms</th><th>p99 ms</th><th>errors</th><th>dropped</th></tr>{phase_rows}</table>
{f"<h2>Faults</h2><table><tr><th>fault</th><th>kind</th><th>start</th><th>end</th></tr>{fault_rows}</table>" if fault_rows else ""}
<h2>Plots</h2>
{figures}
{_traces_section(run)}
{extra}
<script>
// Marks how many plots the browser laid out with a real size (read by the headless-browser test
// and handy when a report looks empty): <body data-plots="N" data-plots-rendered="M">.
window.addEventListener("load", function () {{
  var svgs = document.querySelectorAll("figure svg"), ok = 0;
  svgs.forEach(function (s) {{ var r = s.getBoundingClientRect(); if (r.width > 50 && r.height > 50) ok++; }});
  document.body.setAttribute("data-plots", String(svgs.length));
  document.body.setAttribute("data-plots-rendered", String(ok));
}});
</script>
</body></html>
"""
    path = folder / "report.html"
    path.write_text(document)
    return path


def _trace_link(run: RunData, name: str) -> str:
    entries = run.traces.get(name)
    if not entries:
        return ""
    return f" <a href='#traces-{_slug(name)}'>{len(entries)} trace(s)</a>"


def _traces_section(run: RunData) -> str:
    """The traces of each failed expectation's evidence, with their waterfalls."""
    from harness.report.traces import waterfall_svg

    if not run.traces:
        return ""
    parts = ["<h2 id='traces'>Traces of the failed expectations</h2>"]
    note = run.traces.get("")
    if note:
        parts.append(f"<p>{html.escape(str(note[0].get('note', '')))}</p>")
    for exp in run.expectations:
        entries = run.traces.get(exp.name)
        if entries is None:
            continue
        parts.append(f"<h3 id='traces-{_slug(exp.name)}'>{html.escape(exp.name)}</h3>")
        if not entries:
            parts.append("<p>no stored trace matches this expectation's evidence</p>")
        for entry in entries:
            trace_id = html.escape(str(entry["trace_id"]))
            parts.append(
                f"<figure class='trace'><figcaption>trace <code>{trace_id}</code> — "
                f"{html.escape(str(entry['why']))} (<code>harness trace {trace_id}</code>)"
                f"</figcaption>{waterfall_svg(entry)}</figure>"
            )
    return "".join(parts)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _extra_sections(run: RunData) -> str:
    """Tenants, counters, isolation, the injected-fault log, steady state and rollbacks."""
    out: list[str] = []
    if run.alarms:
        from harness.report.alarms import alarm_section

        out.append(alarm_section(run.alarms, run.faults, run.duration_s))
    if run.tenants:
        rows = [
            [t, d.get("requests"), d.get("p50_ms"), d.get("p95_ms"), d.get("p99_ms"),
             d.get("throttled"), d.get("errors")]
            for t, d in sorted(run.tenants.items())
        ]  # fmt: skip
        out.append(
            "<h2>Tenants</h2>"
            + _table(
                ["tenant", "requests", "p50 ms", "p95 ms", "p99 ms", "throttled", "errors"], rows
            )
        )
    if run.counters:
        out.append(
            "<h2>Counters</h2>"
            + _table(["counter", "value"], [[k, v] for k, v in sorted(run.counters.items())])
        )
    runs = run.isolation.get("runs") if isinstance(run.isolation, dict) else None
    if runs:
        out.append(
            "<h2>Isolation checks</h2>"
            + _table(
                ["check", "stack", "passed", "detail"],
                [[r.get("name"), r.get("stack"), r.get("passed"), r.get("detail")] for r in runs],
            )
        )
    if run.injected_faults:
        out.append(
            "<h2>Injected faults</h2>"
            + _table(
                [
                    "fault",
                    "action",
                    "phase",
                    "start s",
                    "end s",
                    "targets",
                    "parameters",
                    "recorded",
                    "error",
                ],
                [
                    [
                        f.get("label"),
                        f.get("action"),
                        f.get("phase"),
                        f.get("start_s"),
                        f.get("end_s"),
                        f.get("targets"),
                        f.get("parameters"),
                        ", ".join(f"{k} x{v}" for k, v in (f.get("effects") or {}).items())
                        or f.get("injected", ""),
                        f.get("error") or "",
                    ]
                    for f in run.injected_faults
                ],
            )
        )
    profile_slos = run.environment.get("profile_slos") or []
    if profile_slos:
        out.append(
            "<h2>Stack SLOs (harness.yaml)</h2>"
            + _table(
                ["stack", "slo", "judged as", "how"],
                [[s.get("stack"), s.get("slo"), s.get("expectation"), s.get("how")]
                 for s in profile_slos],
            )
        )  # fmt: skip
    steady = run.environment.get("steady_state") or []
    if steady:
        out.append(
            "<h2>Steady state</h2>"
            + _table(
                ["probe", "passed", "detail"],
                [[p.get("name"), p.get("passed"), p.get("detail")] for p in steady],
            )
        )
    rollbacks = run.environment.get("rollbacks") or []
    if rollbacks:
        out.append("<h2>Rollbacks</h2><ul>" + "".join(
            f"<li>{html.escape(str(r))}</li>" for r in rollbacks) + "</ul>")  # fmt: skip
    return "\n".join(out)


WRITERS: dict[str, Callable[[RunData, Path], Path]] = {
    "summary": write_summary,
    "junit": write_junit,
    "html": write_html,
}


def render_all(run: RunData, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {name: writer(run, folder) for name, writer in WRITERS.items()}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_") or "scenario"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
