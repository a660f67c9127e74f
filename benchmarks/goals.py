"""The README's table of performance goals, from the output of `make bench`.

    make bench | tee bench.log && python benchmarks/goals.py < bench.log

Reads every `goal | path | ratio | floor | goal | met` line (`benchlines.goal_line`)
and prints them as a Markdown table, in the order they came.
"""

from __future__ import annotations

import sys

HEADER = ("path", "median (ratio or figure)", "floor", "goal", "met")


def table(lines: list[str]) -> str:
    rows = [line.rstrip("\n").split(" | ")[1:] for line in lines if line.startswith("goal | ")]
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(row) + " |" for row in rows if len(row) == len(HEADER)]
    return "\n".join(out)


if __name__ == "__main__":
    print(table(sys.stdin.readlines()))
