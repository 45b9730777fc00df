"""The ratio table of benches/README.md, from the JSON pytest-benchmark saved.

    python benches/table.py .benchmarks/bench.json           # rewrite the table in README
    python benches/table.py .benchmarks/bench.json --print   # print it instead

Per group: each case's median time per timed call, its work per call (clips,
steps, ...: `record` in benches/conftest.py), the median time per unit of work,
and the ratio against the group's peer, per unit of work: the peer's median
time per unit divided by the case's (above 1: faster than the peer). Cases
whose unit differs from the peer's get no ratio. The heading gives the
processor (from the JSON's machine_info), the date and the command.
The table goes between the markers in benches/README.md, written atomically
(stdann.atomic: a temporary file renamed over it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

START = "<!-- table:start -->"
END = "<!-- table:end -->"
README = Path(__file__).resolve().parent / "README.md"


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_count(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def machine(data: dict) -> str:
    info = data.get("machine_info", {})
    cpu = info.get("cpu", {}) or {}
    name = cpu.get("brand_raw") or info.get("processor") or info.get("machine") or "unknown"
    parts = [name]
    if cpu.get("count"):
        parts.append(f"{cpu['count']} cores")
    if info.get("python_version"):
        parts.append(f"Python {info['python_version']}")
    return ", ".join(parts)


def rows(data: dict) -> dict[str, list[dict]]:
    """The benchmarks by group, in the order they ran, with their per-unit medians."""
    groups: dict[str, list[dict]] = {}
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info", {})
        items = float(extra.get("items", 1) or 1)
        median = bench["stats"]["median"]
        groups.setdefault(bench.get("group") or bench["name"], []).append(
            {
                "case": extra.get("case", bench["name"]),
                "role": extra.get("role", "other"),
                "unit": extra.get("unit", "call"),
                "items": items,
                "median": median,
                "per_item": median / items,
                "rounds": bench["stats"].get("rounds"),
                "note": extra.get("note", ""),
            }
        )
    return groups


def ratios(group: list[dict]) -> list[float | None]:
    """Per case: the peer's median time per unit over the case's, or None."""
    peers = [r for r in group if r["role"] == "peer"]
    if len(peers) != 1:
        return [None] * len(group)
    peer = peers[0]
    return [peer["per_item"] / r["per_item"] if r["unit"] == peer["unit"] else None for r in group]


def table(data: dict) -> str:
    date = data.get("datetime", "")[:10]
    command = data.get("command", "pytest benches --benchmark-only")
    lines = [
        f"Measured {date} on {machine(data)}, with `{command}`"
        + (" (--bench-quick: smaller workloads, not a measurement)." if data.get("quick") else ".")
        + " Median of the rounds; the ratio is the peer's time per unit of work over"
        " the case's (above 1: faster than the peer).",
    ]
    for name, group in rows(data).items():
        lines += [
            "",
            f"`{name}`",
            "",
            "| case | side | median per call | work per call | per unit | rate | vs peer |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r, ratio in zip(group, ratios(group), strict=True):
            unit = r["unit"]
            case = r["case"] + (f" ({r['note']})" if r["note"] else "")
            lines.append(
                f"| {case} | {r['role']} | {fmt_time(r['median'])} "
                f"| {fmt_count(r['items'])} {unit}{'s' if r['items'] != 1 else ''} "
                f"| {fmt_time(r['per_item'])} | {fmt_count(1 / r['per_item'])} {unit}s/s "
                f"| {'' if ratio is None else f'{ratio:.3g}x'} |"
            )
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, body: str) -> str:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"markers {START} and {END} not found in order")
    return text[: start + len(START)] + "\n" + body + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--print", action="store_true", help="print the table, write nothing")
    parser.add_argument("--readme", type=Path, default=README, help="the file with the markers")
    args = parser.parse_args(argv)
    body = table(json.loads(args.json.read_text()))
    if args.print:
        sys.stdout.write(body)
        return 0
    from stdann.atomic import atomic_write_text

    atomic_write_text(args.readme, replace_between_markers(args.readme.read_text(), body))
    print(f"table written to {args.readme.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
