"""`make bench`: run every bench module and print one table.

Each module `benches/bench_*.py` defines `run(quick: bool) -> list[dict]`; a row
has `section`, `case`, `value`, `unit` and optionally `note`. Rows are printed
in one table, grouped by section, with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="bench module names (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    modules = sorted(HERE.glob("bench_*.py"))
    if args.only:
        modules = [m for m in modules if any(o in m.stem for o in args.only)]
    rows = []
    for path in modules:
        t0 = time.perf_counter()
        print(f"running {path.stem} ...", file=sys.stderr, flush=True)
        rows.extend(load(path).run(quick=args.quick))
        print(f"  {path.stem}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"\nstdann benches on {machine()}, {time.strftime('%Y-%m-%d')}\n")
    width = max((len(r["case"]) for r in rows), default=10)
    section = None
    for r in rows:
        if r["section"] != section:
            section = r["section"]
            print(f"\n## {section}\n")
            print(f"| {'case':<{width}} | {'value':>12} | unit | note |")
            print(f"| {'-' * width} | {'-' * 12}: | ---- | ---- |")
        print(f"| {r['case']:<{width}} | {r['value']:>12.4g} | {r['unit']} | {r.get('note', '')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
