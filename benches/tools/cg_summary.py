#!/usr/bin/env python3
"""Instructions per iteration and the functions with the highest self cost, from a
callgrind profile of one lifecycle benchmark row.

    python3 benches/tools/cg_summary.py /tmp/cg.out [ROWS]

The iteration count is the number of calls of `HandlerScope::new` (an instrumented row)
or of the bench's `event` constructor (the `bare` row).
"""
import re
import subprocess
import sys


def main() -> None:
    path = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    calling = subprocess.run(["callgrind_annotate", "--tree=calling", path], capture_output=True, text=True).stdout
    m = re.search(r">\s+\?\?\?:streamer_obs::handler::HandlerScope::new \(([\d,]+)x\)", calling) or re.search(
        r">\s+\?\?\?:lifecycle::event \(([\d,]+)x\)", calling
    )
    iterations = int(m.group(1).replace(",", ""))
    total = int(re.search(r"([\d,]+) \(100.0%\)  PROGRAM TOTALS", calling).group(1).replace(",", ""))
    print("iterations", iterations, "instr/iter", total // iterations)
    flat = subprocess.run(["callgrind_annotate", path], capture_output=True, text=True).stdout
    for cost, name in re.findall(r"^\s*([\d,]+) \([ \d.]+%\)  (?:\?\?\?|[^:]*):(.*?) \[", flat, re.M)[1:rows]:
        print(f"{int(cost.replace(',', '')) / iterations:8.0f}  {name[:120]}")


if __name__ == "__main__":
    main()
