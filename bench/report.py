"""reports/bench.md and reports/bench.png from the results of one `make bench` run.

python -m bench.report [reports/bench.json]     # re-render without re-running
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Targets of issue 5 (reported, never asserted).
TARGET_CACHE_SPEEDUP = 2.0
TARGET_AUTHOR_VS_BARE = 0.70
TARGET_VS_PYNAMODB = 2.5
TARGET_VS_TYPEDESERIALIZER = 1.5

ENDPOINT_LABELS = {
    "author_detail": "GET /api/authors/<pk>/",
    "post_detail": "GET /api/posts/<pk>/",
    "posts_list": "GET /api/posts/?limit=10",
    "comments_list": "GET /api/posts/<pk>/comments/?limit=10",
    "authors_list": "GET /api/authors/?limit=10",
}


def _num(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def f0(value: Any) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:,.0f}"


def f1(value: Any) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:,.1f}"


def f2(value: Any) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:.2f}"


def pct(value: Any) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:.0%}"


def ratio(a: Any, b: Any) -> float | None:
    a, b = _num(a), _num(b)
    return a / b if a is not None and b else None


def xr(value: Any) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:.2f}x"


def table(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- results of one or two emulators -------------------------------------------

EMULATOR_NAMES = {"moto": "moto server", "dynalite": "dynalite"}


def mixes(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The read mix per emulator, moto first ({"off", "on"} of older runs is moto's)."""
    mix = r.get("read_mix") or {}
    if "on" in mix and "off" in mix:
        return {"moto": mix}
    return {k: mix[k] for k in sorted(mix, key=lambda e: (e != "moto", e)) if mix[k].get("on") and mix[k].get("off")}


def target_emulator(r: dict[str, Any]) -> str | None:
    """The emulator whose read-mix ratio the caches target is judged on."""
    found = mixes(r)
    chosen = r.get("read_mix_target")
    if chosen in found:
        return chosen
    return next(iter(found), None)


def rates(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Raw call rates per emulator, moto first ({"single", "concurrent"} of older runs is moto's)."""
    g = r.get("getitem") or {}
    if "single" in g or "concurrent" in g:
        return {"moto": g}
    return {k: g[k] for k in sorted(g, key=lambda e: (e != "moto", e))}


def mix_ratio(mix: dict[str, Any]) -> float | None:
    return ratio(mix.get("on", {}).get("rps"), mix.get("off", {}).get("rps"))


# --- targets --------------------------------------------------------------------


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []

    def ratio_target(name: str, measured: float | None, goal: float, basis: str, why: str = "") -> None:
        if measured is None:
            out.append(
                {
                    "name": name,
                    "goal": f">= {goal:.2f}x" if goal > 1 else f">= {goal:.0%}",
                    "measured": "not measured",
                    "met": False,
                    "gap": "not measured",
                    "basis": basis,
                    "why": why,
                }
            )
            return
        as_pct = goal < 1
        met = measured >= goal
        shown = f"{measured:.0%}" if as_pct else f"{measured:.2f}x"
        goal_s = f">= {goal:.0%}" if as_pct else f">= {goal:.2f}x"
        gap = (
            "met"
            if met
            else (
                f"missed by {(goal - measured) * 100:.1f} points ({measured / goal:.0%} of the target)"
                if as_pct
                else f"missed by {goal - measured:.2f}x ({measured / goal:.0%} of the target)"
            )
        )
        out.append(
            {
                "name": name,
                "goal": goal_s,
                "measured": shown,
                "met": met,
                "gap": gap,
                "basis": basis,
                "why": "" if met else why,
            }
        )

    emu = target_emulator(r)
    all_mixes = mixes(r)
    mix = all_mixes.get(emu, {}) if emu else {}
    on, off = mix.get("on", {}), mix.get("off", {})
    cache_ratio = ratio(on.get("rps"), off.get("rps"))
    why = ""
    if cache_ratio is not None and cache_ratio < TARGET_CACHE_SPEEDUP:
        why = _why_cache(r, emu)
    others = "; ".join(f"on {EMULATOR_NAMES.get(e, e)}: {xr(mix_ratio(m))}" for e, m in all_mixes.items() if e != emu)
    ratio_target(
        f"read mix throughput, caches on vs off ({EMULATOR_NAMES.get(emu, emu)})",
        cache_ratio,
        TARGET_CACHE_SPEEDUP,
        f"{f1(on.get('rps'))} vs {f1(off.get('rps'))} req/s at {on.get('users', '?')} users"
        + (f" ({others})" if others else ""),
        why,
    )
    if others and out:
        out[-1]["gap"] += f"; {others}"

    author = r.get("endpoints", {}).get("on", {}).get("author_detail", {})
    bare = r.get("bare", {})
    author_ratio = ratio(author.get("rps"), bare.get("rps"))
    why = ""
    if author_ratio is not None and author_ratio < TARGET_AUTHOR_VS_BARE:
        why = _why_author(r)
    ratio_target(
        "cached GET /api/authors/<pk>/ vs bare Django view",
        author_ratio,
        TARGET_AUTHOR_VS_BARE,
        f"{f1(author.get('rps'))} vs {f1(bare.get('rps'))} req/s",
        why,
    )

    m = r.get("materialize", {})
    speed = m.get("speedup", {})
    for key, goal, label in (
        ("pynamodb", TARGET_VS_PYNAMODB, "PynamoDB from_raw_data"),
        ("typedeserializer", TARGET_VS_TYPEDESERIALIZER, "boto3 TypeDeserializer"),
    ):
        s = speed.get(key, {})
        ratio_target(
            f"materialisation, ours vs {label}",
            _num(s.get("best")),
            goal,
            f"best of {m.get('repeat', '?')}; median ratio {xr(s.get('median'))}",
            "see the materialisation table: per-item cost is dominated by the field conversions",
        )

    mixw = r.get("blog_mix")
    if mixw:
        failures = int(mixw.get("failures", 0))
        out.append(
            {
                "name": f"zero failures, blog mix at {mixw.get('users')} users for {mixw.get('seconds')} s",
                "goal": "0 failures",
                "measured": f"{failures} of {mixw.get('requests')}",
                "met": failures == 0,
                "gap": "met" if failures == 0 else f"missed by {failures} failed requests",
                "basis": f"{f1(mixw.get('rps'))} req/s",
                "why": ""
                if failures == 0
                else "; ".join(
                    f"{f.get('Method')} {f.get('Name')}: {f.get('Error')} x{f.get('Occurrences')}"
                    for f in mixw.get("failures_detail", [])[:5]
                ),
            }
        )
    return out


def _ddb_ms(phase: dict[str, Any], name: str = "Aggregated") -> float | None:
    row = phase.get("tally", {}).get(name, {})
    return ratio(row.get("ddb_ms"), row.get("with_header"))


def _why_cache(r: dict[str, Any], emulator: str | None = None) -> str:
    emulator = emulator or target_emulator(r)
    mix = mixes(r)[emulator]
    on, off = mix["on"], mix["off"]
    bits = []
    if on.get("calls_per_request") is not None and off.get("calls_per_request") is not None:
        bits.append(
            f"on {EMULATOR_NAMES.get(emulator, emulator)}, the caches cut DynamoDB calls per request from {f2(off['calls_per_request'])} to "
            f"{f2(on['calls_per_request'])} ({xr(ratio(off['calls_per_request'], on['calls_per_request']))} "
            "fewer)"
        )
    total = (on.get("tally", {}).get("Aggregated") or {}).get("calls") or 0
    costly = []
    for name, row in on.get("tally", {}).items():
        if name != "Aggregated" and row.get("with_header") and total:
            costly.append((row["calls"] / total, row["calls"] / row["with_header"], name))
    costly = [c for c in sorted(costly, reverse=True) if c[0] >= 0.05]
    if costly:
        bits.append(
            "the calls left are " + ", ".join(f"{pct(share)} in `{n}` ({cpr:.2f}/req)" for share, cpr, n in costly)
        )
        notes = []
        names = " ".join(n for _, _, n in costly)
        if "/api/posts/[pk]/" in names.split():
            notes.append(
                "the post page writes its view count (an UpdateItem on every view, which no cache can "
                "remove) and each such write bumps the posts table's query-cache generation in that "
                "worker"
            )
        if "/api/posts/?" in names:
            notes.append(
                "the post-list Queries (first page, cursor pages, an author's posts) are re-run after "
                "almost every post view in the same worker, since those writes drop its cached lists"
            )
        if "/comments/" in names:
            notes.append(
                "a post's comment Query is cached for the query-cache TTL only (`DYNAMO_QUERY_CACHE_TTL`, "
                f"5 s by default) and readers spread over {r.get('pool', {}).get('posts', 'all the')} posts"
            )
        if notes:
            bits.append("; ".join(notes))
    ms_on, ms_off = _ddb_ms(on), _ddb_ms(off)
    avg_on, avg_off = _num(on.get("avg")), _num(off.get("avg"))
    if None not in (ms_on, ms_off, avg_on, avg_off) and avg_on and avg_off:
        text = (
            f"time in DynamoDB per request went from {f1(ms_off)} to {f1(ms_on)} ms, out of an average "
            f"response of {f0(avg_off)} and {f0(avg_on)} ms ({pct(ms_off / avg_off)} and {pct(ms_on / avg_on)})"
        )
        rest_on = avg_on - ms_on
        if rest_on > 0:
            text += (
                f"; the rest of a cached request (Django, the caches, waiting for a CPU shared with the "
                f"emulator and locust) still takes {f0(rest_on)} ms, so even with no DynamoDB time at all "
                f"the mix would gain only about {xr(avg_off / rest_on)} at this load"
            )
        bits.append(text)
    bare = r.get("bare", {}).get("rps")
    if bare:
        bits.append(
            f"caches on run at {pct(ratio(on.get('rps'), bare))} of the bare Django view's rate "
            f"({f1(bare)} req/s), so HTTP and gunicorn are not the limit: what is left is the DynamoDB "
            "calls and the blog pages' own work (middleware, materialising and serialising posts with "
            "their authors) on CPUs shared with the emulator and locust"
        )
    if on.get("cpu_warning") or off.get("cpu_warning"):
        bits.append("locust's own CPU passed 90%, competing with gunicorn for the cores")
    return "; ".join(bits)


def _why_author(r: dict[str, Any]) -> str:
    author = r["endpoints"]["on"]["author_detail"]
    bits = []
    if author.get("calls_per_request") is not None:
        bits.append(
            f"{f2(author['calls_per_request'])} DynamoDB calls per request, so the gap is the middleware "
            "stack, URL routing, the cache lookup and serialisation"
        )
    if author.get("cpu_warning") or r.get("bare", {}).get("cpu_warning"):
        bits.append("locust's own CPU passed 90% on this 2-core machine")
    return "; ".join(bits)


# --- markdown -------------------------------------------------------------------

TARGET_EMULATOR_WHY = (
    "DynamoDB answers an index Query at about the cost of a GetItem whatever the table's size, and so does "
    "dynalite (see its call rates in section c), while moto walks every item of the table for each index "
    "Query, so on moto exactly the calls the caches cannot remove (the comment and posts-of-an-author "
    "Queries, the view-count writes) are priced far above the GetItems they do remove. The moto figure is "
    "kept beside it because moto is what `make run` uses."
)


def _emulators_line(r: dict[str, Any]) -> str:
    found = mixes(r)
    if len(found) > 1:
        return (
            "the read mix (a) runs on "
            + " and on ".join(EMULATOR_NAMES.get(e, e) for e in found)
            + ", everything else on the moto server (what `make run` uses)"
        )
    why = (r.get("emulators") or {}).get("dynalite", {}).get("why")
    return "a moto server (what `make run` uses)" + (f"; no dynalite run ({why})" if why else "")


def _rates_line(emulator: str, v: dict[str, Any]) -> str:
    single, conc, query = v.get("single", {}), v.get("concurrent", {}), v.get("query")
    procs = conc.get("processes") or 1
    name = {"moto": "the moto server"}.get(emulator, EMULATOR_NAMES.get(emulator, emulator))
    text = (
        f"- Raw call rates of {name} (boto3 loops, nothing else running): "
        f"GetItem **{f0(single.get('rate'))} calls/s** with 1 thread, **{f0(conc.get('rate'))} calls/s** with "
        f"{procs} processes x {(conc.get('threads') or 0) // procs} threads (shaped like gunicorn)"
    )
    if query:
        text += (
            f"; the comment list's index Query (`Limit` 10) **{f0(query.get('rate'))} calls/s** shaped like "
            f"gunicorn, {pct(ratio(query.get('rate'), conc.get('rate')))} of its GetItem rate"
        )
    errors = sum(int(x.get("errors", 0)) for x in (single, conc, query or {}))
    return text + (f"; {errors} errors" if errors else "") + "."


def _mix_detail(emulator: str, mix: dict[str, Any]) -> list[str]:
    on, off = mix["on"], mix["off"]
    out = ["", f"### On {EMULATOR_NAMES.get(emulator, emulator)}", ""]
    rows = [
        ["requests/s", f1(off["rps"]), f1(on["rps"]), xr(ratio(on["rps"], off["rps"]))],
        ["p50 (ms)", f0(off["p50"]), f0(on["p50"]), xr(ratio(off["p50"], on["p50"]))],
        ["p95 (ms)", f0(off["p95"]), f0(on["p95"]), xr(ratio(off["p95"], on["p95"]))],
        ["p99 (ms)", f0(off["p99"]), f0(on["p99"]), xr(ratio(off["p99"], on["p99"]))],
        ["failures", f"{off['failures']} of {off['requests']}", f"{on['failures']} of {on['requests']}", ""],
        [
            "DynamoDB calls / request",
            f2(off.get("calls_per_request")),
            f2(on.get("calls_per_request")),
            xr(ratio(off.get("calls_per_request"), on.get("calls_per_request"))),
        ],
        [
            "DynamoDB ms / request (Server-Timing)",
            f1(_ddb_ms(off)),
            f1(_ddb_ms(on)),
            xr(ratio(_ddb_ms(off), _ddb_ms(on))),
        ],
        ["average response (ms)", f0(off.get("avg")), f0(on.get("avg")), xr(ratio(off.get("avg"), on.get("avg")))],
        ["cache hits ÷ lookups (Server-Timing)", pct(off.get("cache_hit_ratio")), pct(on.get("cache_hit_ratio")), ""],
        [
            "req/s by round",
            " / ".join(f1(x) for x in off.get("rps_by_round", [off["rps"]])),
            " / ".join(f1(x) for x in on.get("rps_by_round", [on["rps"]])),
            "",
        ],
    ]
    out.append(table(["", "caches off (`DYNAMO_CACHE_TTL=0`)", "caches on", "on vs off"], rows))
    out += [
        "",
        "Latency ratios are off ÷ on (higher is better for on). Rounds are merged exactly (summed "
        "requests, time and response-time histograms). With caches off the per-request identity map still "
        "answers repeated keys, hence hits. Per request:",
        "",
    ]
    names = sorted(set(on.get("per_request", {})) | set(off.get("per_request", {})))
    rows = []
    for name in names:
        a, b = off.get("per_request", {}).get(name, {}), on.get("per_request", {}).get(name, {})
        ta = off.get("tally", {}).get(name.split(" ", 1)[-1], {})
        tb = on.get("tally", {}).get(name.split(" ", 1)[-1], {})
        rows.append(
            [
                f"`{name}`",
                f1(a.get("rps")),
                f1(b.get("rps")),
                f0(a.get("p95")),
                f0(b.get("p95")),
                f2(ratio(ta.get("calls"), ta.get("with_header"))),
                f2(ratio(tb.get("calls"), tb.get("with_header"))),
                f1(ratio(ta.get("ddb_ms"), ta.get("with_header"))),
                f1(ratio(tb.get("ddb_ms"), tb.get("with_header"))),
            ]
        )
    out.append(
        table(
            [
                "request",
                "off req/s",
                "on req/s",
                "off p95",
                "on p95",
                "off calls/req",
                "on calls/req",
                "off ddb ms/req",
                "on ddb ms/req",
            ],
            rows,
        )
    )
    return out


def markdown(r: dict[str, Any]) -> str:
    cfg, mach = r.get("config", {}), r.get("machine", {})
    out: list[str] = ["# make bench", ""]
    out.append(
        f"Run {r.get('started', '?')} on {mach.get('nproc', '?')} CPUs ({mach.get('cpu', '?')}), "
        f"Python {mach.get('python', '?')}; took {f0(r.get('elapsed_s'))} s. "
        f"gunicorn {cfg.get('workers')} workers x {cfg.get('threads')} threads (gthread) for every server; "
        f"DynamoDB is a local emulator shared by the stacks: {_emulators_line(r)}. Load: locust (FastHttpUser), "
        f"{cfg.get('users')} users with no think time, all spawned in the first second, stats reset after "
        f"spawning; {cfg.get('duration')} s per side for the read mix and for the cached author page vs the "
        f"bare view (in {cfg.get('rounds', 1)} ABBA rounds), {cfg.get('endpoint_duration')} s for each other "
        "single-endpoint run. Everything below comes from this one run; compare ratios, not absolute numbers."
    )
    seed = r.get("seed", {})
    if seed:
        out.append("")
        out.append(
            f"Data: {seed.get('authors')} authors, {seed.get('posts')} posts, {seed.get('comments')} comments "
            f"({seed.get('how')}); readers pick from {r.get('pool', {}).get('posts')} posts and "
            f"{r.get('pool', {}).get('authors')} authors."
        )

    out += ["", "## Targets", ""]
    rows = [
        [
            t["name"],
            t["goal"],
            t["measured"],
            ("met" if t["met"] else "**missed**"),
            t["gap"] if not t["met"] else t["basis"],
        ]
        for t in targets(r)
    ]
    out.append(table(["target", "goal", "measured", "", "detail"], rows, "llrll"))
    whys = [t for t in targets(r) if not t["met"] and t.get("why")]
    if whys:
        out += [""] + [f"- **{t['name']}** missed: {t['why']}." for t in whys]

    # a
    all_mixes = mixes(r)
    if all_mixes:
        first = next(iter(all_mixes.values()))
        emu_t = target_emulator(r)
        out += [
            "",
            "## a. Read mix: caches on vs off",
            "",
            f"`loadtests/read_mix.py` (readers only; the post page still writes its view count), "
            f"{first['on'].get('users')} users, {first['on'].get('seconds')} s each side in "
            f"{cfg.get('rounds', 1)} ABBA rounds (off, on, on, off), after a {cfg.get('warmup')} s warm-up of "
            f"each, on each emulator in turn: {', '.join(EMULATOR_NAMES.get(e, e) for e in all_mixes)}. Each "
            "emulator has its own two stacks (caches off, caches on) and its own data, seeded the same way.",
            "",
        ]
        skipped = {e: v for e, v in (r.get("emulators") or {}).items() if not v.get("ran") and e not in all_mixes}
        for e, v in skipped.items():
            out += [f"Not run on {EMULATOR_NAMES.get(e, e)}: {v.get('why', 'not available')}.", ""]
        rows = []
        for e, m in all_mixes.items():
            on, off = m["on"], m["off"]
            rows.append(
                [
                    EMULATOR_NAMES.get(e, e) + (" (target)" if e == emu_t and len(all_mixes) > 1 else ""),
                    f1(off["rps"]),
                    f1(on["rps"]),
                    f"**{xr(ratio(on['rps'], off['rps']))}**",
                    f"{f0(off['p50'])} / {f0(on['p50'])}",
                    f"{f0(off['p95'])} / {f0(on['p95'])}",
                    f"{f2(off.get('calls_per_request'))} / {f2(on.get('calls_per_request'))}",
                    f"{f1(_ddb_ms(off))} / {f1(_ddb_ms(on))}",
                    f"{off['failures'] + on['failures']} of {off['requests'] + on['requests']}",
                ]
            )
        out.append(
            table(
                [
                    "emulator",
                    "off req/s",
                    "on req/s",
                    "on vs off",
                    "p50 ms off / on",
                    "p95 ms off / on",
                    "ddb calls/req off / on",
                    "ddb ms/req off / on",
                    "failures",
                ],
                rows,
            )
        )
        if len(all_mixes) > 1:
            out += ["", f"The target row uses {EMULATOR_NAMES.get(emu_t, emu_t)}: " + TARGET_EMULATOR_WHY]
        for e, m in all_mixes.items():
            out += _mix_detail(e, m)
    # b
    calls = r.get("calls")
    if calls:
        out += [
            "",
            "## b. DynamoDB calls per request vs a naive client",
            "",
            'From the `Server-Timing` header (`ddb;desc="calls=N"`). Fixture: a post with 50 comments by 10 '
            "authors, 20 posts by 5 authors; each page measured on one keep-alive connection (one worker): the "
            "first request is cold, the warm figure is the median of the next three. The naive client issues one "
            "GetItem per reference and caches nothing.",
            "",
        ]
        rows = []
        for key, on_row in calls["on"].items():
            off_row = calls["off"].get(key, {})
            rows.append(
                [
                    f"`{on_row['label']}`",
                    str(on_row["naive"]),
                    str(off_row.get("first", "–")),
                    str(on_row["first"]),
                    f0(on_row["warm"]),
                    xr(ratio(on_row["naive"], off_row.get("first"))),
                    xr(ratio(on_row["naive"], on_row["first"])),
                    on_row["naive_formula"],
                ]
            )
        out.append(
            table(
                ["page", "naive", "caches off", "on, cold", "on, warm", "naive ÷ off", "naive ÷ cold", "naive counts"],
                rows,
                "lrrrrrrl",
            )
        )

    # c
    bare, eps = r.get("bare"), r.get("endpoints")
    all_rates = rates(r)
    getitem = all_rates.get("moto", {})
    if bare and eps:
        ceiling = _num(getitem.get("concurrent", {}).get("rate"))
        out += [
            "",
            "## c. Ceilings",
            "",
            f"- Bare Django JSON view (`bench/bare_app.py`, no middleware, no DynamoDB) under the same gunicorn "
            f"config: **{f1(bare['rps'])} req/s**, p50/p95/p99 {f0(bare['p50'])}/{f0(bare['p95'])}/{f0(bare['p99'])} ms, "
            f"{bare['failures']} failures; measured in ABBA rounds with the cached author page "
            f"(bare {' / '.join(f1(x) for x in bare.get('rps_by_round', [bare['rps']]))} req/s, author page "
            f"{' / '.join(f1(x) for x in eps.get('on', {}).get('author_detail', {}).get('rps_by_round', []))} req/s by round).",
            *[_rates_line(e, v) for e, v in all_rates.items()],
            "",
            "The endpoint runs below are on the moto server. "
            "Each endpoint alone, same users, no think time. *of bare* = req/s ÷ bare view req/s; "
            "*of emulator* = DynamoDB calls/s (req/s × calls per request from Server-Timing) ÷ moto's concurrent "
            "GetItem rate; *emulator bound* = the req/s the emulator alone would allow at that many calls "
            "per request (GetItem-priced: a Query costs moto more, so it is an upper bound).",
            "",
        ]
        rows = []
        for key, label in ENDPOINT_LABELS.items():
            for mode in ("on", "off"):
                e = eps.get(mode, {}).get(key)
                if not e:
                    continue
                cpr = e.get("calls_per_request")
                calls_per_s = e["rps"] * cpr if cpr is not None else None
                rows.append(
                    [
                        f"`{label}`",
                        "on" if mode == "on" else "off",
                        f1(e["rps"]),
                        pct(ratio(e["rps"], bare["rps"])),
                        f0(e["p95"]),
                        f2(cpr),
                        f0(calls_per_s),
                        pct(ratio(calls_per_s, ceiling)),
                        f0(ratio(ceiling, cpr)) if cpr else "∞",
                        str(e["failures"]),
                    ]
                )
        out.append(
            table(
                [
                    "endpoint",
                    "caches",
                    "req/s",
                    "of bare",
                    "p95 ms",
                    "calls/req",
                    "ddb calls/s",
                    "of emulator",
                    "emulator bound req/s",
                    "failures",
                ],
                rows,
                "llrrrrrrrr",
            )
        )

    # d
    m = r.get("materialize")
    if m:
        out += [
            "",
            "## d. Materialisation",
            "",
            f"{m['items']:,} model instances from raw DynamoDB items (a blog post: 11 attributes incl. a list, "
            f"a bool, a number, two datetimes), best and median of {m['repeat']} interleaved repetitions. "
            f"Datetime wire format: {m.get('datetime_format')}.",
            "",
        ]
        ours = m["contenders"]["ours"]
        rows = []
        for key, label in (
            ("ours", "ours: `Model.from_raw(item)`"),
            ("typedeserializer", "boto3 `TypeDeserializer` (to dicts)"),
            ("pynamodb", "PynamoDB `Model.from_raw_data`"),
        ):
            c = m["contenders"][key]
            rows.append(
                [
                    label,
                    f1(c["best_s"] * 1000),
                    f1(c["median_s"] * 1000),
                    f2(c["us_per_item"]),
                    f0(c["items_per_s"]),
                    "1.00x" if key == "ours" else xr(c["best_s"] / ours["best_s"]),
                ]
            )
        out.append(table(["", "best ms", "median ms", "µs / item", "items/s", "ours is faster by"], rows))

    mixw = r.get("blog_mix")
    if mixw:
        out += [
            "",
            "## The blog mix (readers ~90%, writers ~10%)",
            "",
            f"`loadtests/locustfile.py`, caches on, {mixw['users']} users with think time, {mixw['seconds']} s: "
            f"{f1(mixw['rps'])} req/s, p50/p95/p99 {f0(mixw['p50'])}/{f0(mixw['p95'])}/{f0(mixw['p99'])} ms, "
            f"**{mixw['failures']} failures** of {mixw['requests']} requests.",
            "",
        ]
        rows = [
            [f"`{k}`", str(v["requests"]), str(v["failures"]), f1(v["rps"]), f0(v["p50"]), f0(v["p95"]), f0(v["p99"])]
            for k, v in sorted(mixw.get("per_request", {}).items())
        ]
        out.append(table(["request", "count", "failures", "req/s", "p50", "p95", "p99"], rows))

    warned = [p for p in _phases(r) if p.get("cpu_warning")]
    out += ["", "## Notes", ""]
    if warned:
        out.append(
            "- Locust reported its own CPU above 90% in: "
            + ", ".join(f"`{p['name']}`" for p in warned)
            + ". On this machine the load generator shares the cores with gunicorn and moto, so those "
            "figures are a floor for what the server could do."
        )
    out.append(
        "- Per-phase CSVs and logs: `reports/bench/`; raw results: `reports/bench.json`; chart: `reports/bench.png`."
    )
    out.append("- Re-render this report without re-running: `python -m bench.report`.")
    return "\n".join(out) + "\n"


def _phases(r: dict[str, Any]) -> list[dict[str, Any]]:
    phases = [p for m in mixes(r).values() for p in (m["off"], m["on"])]
    if r.get("bare"):
        phases.append(r["bare"])
    for mode in r.get("endpoints", {}).values():
        phases.extend(mode.values())
    if r.get("blog_mix"):
        phases.append(r["blog_mix"])
    return phases


# --- chart ----------------------------------------------------------------------


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    (ax_a, ax_b), (ax_c, ax_d) = axes

    all_mixes = mixes(r)
    if all_mixes:
        emus = list(all_mixes)
        width = 0.38
        top = 0.0
        for i, (key, label, color) in enumerate((("off", "caches off", "#bbbbbb"), ("on", "caches on", "#2b7bba"))):
            xs = [j + (i - 0.5) * width for j in range(len(emus))]
            values = [all_mixes[e][key]["rps"] for e in emus]
            top = max([top, *values])
            ax_a.bar(xs, values, width, label=label, color=color)
            for x, e in zip(xs, emus, strict=False):
                ph = all_mixes[e][key]
                ax_a.annotate(
                    f"{ph['rps']:.0f} req/s\np50 {ph['p50']:.0f}\np95 {ph['p95']:.0f} ms",
                    (x, ph["rps"]),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
        emu_t = target_emulator(r)
        ax_a.set_xticks(range(len(emus)))
        ax_a.set_xticklabels(
            [
                f"{EMULATOR_NAMES.get(e, e)}{' (target)' if e == emu_t and len(emus) > 1 else ''}\n"
                f"on vs off {xr(mix_ratio(all_mixes[e]))}"
                for e in emus
            ],
            fontsize=9,
        )
        users = all_mixes[emus[0]]["on"].get("users")
        ax_a.set_title(f"a. Read mix, {users} users, caches on vs off (target {TARGET_CACHE_SPEEDUP:.0f}x)")
        ax_a.set_ylabel("requests/s")
        ax_a.set_ylim(0, top * 1.35 if top > 0 else 1)
        ax_a.legend(fontsize=8, loc="upper left")

    calls = r.get("calls")
    if calls:
        keys = list(calls["on"])
        series = [
            ("naive", [calls["on"][k]["naive"] for k in keys], "#d62728"),
            ("caches off", [calls["off"][k]["first"] for k in keys], "#bbbbbb"),
            ("on, cold", [calls["on"][k]["first"] for k in keys], "#7fb3d5"),
            ("on, warm", [calls["on"][k]["warm"] for k in keys], "#2b7bba"),
        ]
        width = 0.2
        for i, (label, values, color) in enumerate(series):
            xs = [j + (i - 1.5) * width for j in range(len(keys))]
            ax_b.bar(xs, values, width, label=label, color=color)
            for x, v in zip(xs, values, strict=False):
                ax_b.annotate(f"{v:g}", (x, v), ha="center", va="bottom", fontsize=7)
        ax_b.set_xticks(range(len(keys)))
        ax_b.set_xticklabels([k.replace("_", "\n") for k in keys], fontsize=8)
        ax_b.set_ylabel("DynamoDB calls per request")
        ax_b.set_title("b. DynamoDB calls per request")
        ax_b.legend(fontsize=8)

    bare, eps = r.get("bare"), r.get("endpoints")
    if bare and eps and bare.get("rps"):
        keys = [k for k in ENDPOINT_LABELS if k in eps.get("on", {})]
        on_f = [eps["on"][k]["rps"] / bare["rps"] for k in keys]
        off_f = [eps.get("off", {}).get(k, {}).get("rps", 0) / bare["rps"] for k in keys]
        ys = range(len(keys))
        ax_c.barh([y + 0.2 for y in ys], on_f, 0.4, label="caches on", color="#2b7bba")
        ax_c.barh([y - 0.2 for y in ys], off_f, 0.4, label="caches off", color="#bbbbbb")
        ax_c.axvline(
            TARGET_AUTHOR_VS_BARE, color="#d62728", linestyle="--", linewidth=1, label="70% target (author page)"
        )
        ax_c.axvline(1.0, color="black", linewidth=0.8)
        ax_c.set_yticks(list(ys))
        ax_c.set_yticklabels([ENDPOINT_LABELS[k].replace("GET ", "") for k in keys], fontsize=8)
        ax_c.set_xlabel(f"fraction of the bare Django view ({bare['rps']:.0f} req/s)")
        ax_c.set_title("c. Each endpoint vs the HTTP ceiling (on the moto server)")
        ax_c.legend(fontsize=8, loc="center right")

    m = r.get("materialize")
    if m:
        keys = ["ours", "typedeserializer", "pynamodb"]
        labels = ["ours\nfrom_raw", "boto3\nTypeDeserializer", "PynamoDB\nfrom_raw_data"]
        ms = [m["contenders"][k]["best_s"] * 1000 for k in keys]
        bars = ax_d.bar(labels, ms, color=["#2b7bba", "#999999", "#e39c37"])
        for bar, k, v in zip(bars, keys, ms, strict=False):
            note = (
                "" if k == "ours" else f"\n{m['contenders'][k]['best_s'] / m['contenders']['ours']['best_s']:.2f}x ours"
            )
            ax_d.annotate(
                f"{v:.0f} ms{note}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=9
            )
        ax_d.set_ylabel(f"ms for {m['items']:,} items (best of {m['repeat']})")
        ax_d.set_title("d. Materialisation (lower is better)")
        ax_d.set_ylim(0, max(ms) * 1.3)

    mach = r.get("machine", {})
    fig.suptitle(
        f"make bench — {mach.get('nproc', '?')} CPUs, {mach.get('cpu', '')}, Python {mach.get('python', '')}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_text(r: dict[str, Any]) -> str:
    lines = ["Targets:"]
    for t in targets(r):
        lines.append(
            f"  [{'met' if t['met'] else 'MISSED'}] {t['name']}: {t['measured']} (goal {t['goal']})"
            + ("" if t["met"] else f" - {t['gap']}")
        )
    return "\n".join(lines)


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "bench.md"
    png = out_dir / "bench.png"
    md.write_text(markdown(results), encoding="utf-8")
    chart(results, png)
    return md, png


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    src = Path(argv[0]) if argv else ROOT / "reports" / "bench.json"
    results = json.loads(src.read_text())
    md, png = write(results, src.parent)
    print(f"wrote {md} and {png}")
    print(summary_text(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
