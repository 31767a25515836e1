#!/usr/bin/env python3
"""bench/compare.py — two bench/run result files (--json) side by side: every anchor and
every scenario's figures, old → new and new/old, plus each scenario's ratio to its anchor
(writes to TPC-B, reads to the read ceiling, the subsidy batch's postings/s to the insert
ceiling) in both runs. Ratios to anchors are what to compare across a noisy machine.

    bench/compare.py OLD.json NEW.json      (or: bench/run --compare OLD.json NEW.json)
"""
import json
import sys


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float) and abs(v) < 10:
        return f"{v:.3f}"
    if isinstance(v, (int, float)):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"
    return str(v)


def rel(old, new):
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and old:
        return f"{new / old:.2f}x"
    return ""


def anchor_ratio(run, name, sc):
    a = run["anchors"]
    if name.startswith("fund.subsidy-batch"):
        base = a.get("insert_ceiling_postings_per_s")
        val = sc.get("units_per_s")
        what = "insert ceiling"
    elif sc.get("kind") == "write":
        base, val, what = a.get("tpcb_tps"), sc.get("calls_per_s"), "TPC-B"
    elif sc.get("kind") == "read":
        base, val, what = a.get("read_ceiling_cps"), sc.get("calls_per_s"), "read ceiling"
    else:
        return None, ""
    if not base or val is None:
        return None, what
    return val / base, what


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    old, new = (json.load(open(p)) for p in sys.argv[1:3])
    print(f"old: {sys.argv[1]} ({old['time']}, load {old['machine'].get('load_start')} -> "
          f"{old['machine'].get('load_end')})")
    print(f"new: {sys.argv[2]} ({new['time']}, load {new['machine'].get('load_start')} -> "
          f"{new['machine'].get('load_end')})")
    print()
    row = "{:<34} {:>14} {:>14} {:>8}"
    print(row.format("anchor", "old", "new", "new/old"))
    for k, v in new["anchors"].items():
        o = old["anchors"].get(k)
        print(row.format(k, fmt(o), fmt(v), rel(o, v)))
    print()
    row2 = "{:<28} {:<24} {:>12} {:>12} {:>8}"
    print(row2.format("scenario", "figure", "old", "new", "new/old"))
    keys = [("calls_per_s", "calls/s"), ("units_per_s", "units/s"), ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"), ("iter_p50_ms", "iteration p50 ms"),
            ("errors", "errors"), ("srv_cpu_us_per_call", "gridstockd CPU us/call"),
            ("pg_cpu_us_per_call", "PostgreSQL CPU us/call"),
            ("statements_per_call", "SQL statements/call"), ("rss_mib", "RSS MiB")]
    names = list(new["scenarios"]) + [n for n in old["scenarios"] if n not in new["scenarios"]]
    for name in names:
        o, n = old["scenarios"].get(name, {}), new["scenarios"].get(name, {})
        shown = name
        if "note" in o or "note" in n or not o or not n:
            # one side failed or did not run: its note, and the other side's figures
            for side, d in (("old", o), ("new", n)):
                if "note" in d or not d:
                    print(row2.format(name, f"{side}: {d.get('note', 'not run')}"[:60], "", "", ""))
            o = {} if "note" in o else o
            n = {} if "note" in n else n
            if not o and not n:
                continue
            shown = ""
        ro, what = anchor_ratio(old, name, o)
        rn, _ = anchor_ratio(new, name, n)
        first = True
        if what:
            print(row2.format(shown, f"x {what}", fmt(ro), fmt(rn), rel(ro, rn)))
            first = False
        for k, label in keys:
            if k not in o and k not in n:
                continue
            if k == "units_per_s" and not (n or o).get("units"):
                continue
            if k == "iter_p50_ms" and (n or o).get("steps", 1) == 1:
                continue
            print(row2.format(shown if first else "", label, fmt(o.get(k)), fmt(n.get(k)),
                              rel(o.get(k), n.get(k))))
            first = False
        for k in sorted(set(o) | set(n)):
            if k.startswith("step") and k.endswith("_p50_ms"):
                print(row2.format("", k.replace("_p50_ms", " p50 ms"), fmt(o.get(k)),
                                  fmt(n.get(k)), rel(o.get(k), n.get(k))))
        if "beside_issue" in n or "beside_issue" in o:
            bo, bn = o.get("beside_issue", {}), n.get("beside_issue", {})
            for k in ("calls_per_s", "p99_ms", "errors"):
                print(row2.format("", f"beside: issue {k}", fmt(bo.get(k)), fmt(bn.get(k)),
                                  rel(bo.get(k), bn.get(k))))


if __name__ == "__main__":
    main()
