#!/usr/bin/env python3
"""Atomic read-modify-write instructions executed per benchmark iteration, by function.

Counts every executed `lock`-prefixed instruction and every `xchg` with a memory operand
(an implicit lock) in a callgrind profile taken with per-instruction counts:

    valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \\
        --callgrind-out-file=/tmp/cg.out BENCH --bench --profile-time 3 'w1_invocation/instrumented_no_send$'
    python3 benches/tools/atomics.py /tmp/cg.out ITERATIONS

ITERATIONS: how many times the measured routine ran (see cg_summary.py). The binaries are
disassembled when this runs: run it before the bench is rebuilt. On the 2-vCPU
AMD EPYC VM of benches/README.md one such instruction costs about 5 ns, far more than
its weight in an instruction count.
"""
import collections
import re
import subprocess
import sys


def main() -> None:
    path, iterations = sys.argv[1], int(sys.argv[2])
    counts: collections.Counter = collections.Counter()
    function_of = {}
    obj = fn = None
    skip_next = False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ob="):
                obj = line[3:]
            elif line.startswith("fn="):
                fn = line[3:]
            elif line.startswith("calls="):
                skip_next = True  # the next cost line is the call's inclusive cost
            elif line.startswith("0x"):
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                key = (obj, int(parts[0], 16))
                counts[key] += int(parts[2])
                function_of[key] = fn
    by_function: collections.Counter = collections.Counter()
    total = 0
    for obj in {o for o, _ in counts if o and o.startswith("/")}:
        listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj], capture_output=True, text=True).stdout
        for row in listing.split("\n"):
            m = re.match(r"\s*([0-9a-f]+):\s+(.*)", row)
            if not m:
                continue
            insn = m.group(2)
            if not (insn.startswith("lock ") or (insn.startswith("xchg") and "(" in insn)):
                continue
            key = (obj, int(m.group(1), 16))
            if key in counts:
                total += counts[key]
                by_function[function_of[key]] += counts[key]
    print(f"atomic read-modify-writes per iteration: {total / iterations:.1f}")
    for name, c in by_function.most_common(60):
        if c / iterations >= 0.5:
            print(f"{c / iterations:6.1f}  {name[:120]}")


if __name__ == "__main__":
    main()
