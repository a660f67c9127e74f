"""What every benchmark shares: timing that cannot flatter, and one line per goal.

`timed(repeat, ours, floor)` runs the two sides in turn, the same number of times
(ours, floor, ours, floor, ...: a machine that speeds up or slows down during the run
moves both), and gives each side's median and the median of the pair-by-pair ratios.
`goal_line` prints the line `make bench` is read for, in one format for every path:

    goal | PATH | RATIO | FLOOR | GOAL | MET

(`benchmarks/goals.py` collects these lines from `make bench` into the README table.)
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from threadpoolctl import threadpool_limits

MIN_REPEAT = 5  # a median of fewer runs is one lucky or unlucky run away from moving


@dataclass(frozen=True)
class Timed:
    ours: float  # median seconds
    floor: float
    ratio: float  # median of the pair-by-pair ratios


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """One BLAS thread, as in the tests: on a shared 2-core machine a second OpenBLAS
    thread measures the neighbours (a product of 128 x 15 x 10,000 doubles took 50 ms
    with two threads, 3 ms with one)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def seconds(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def timed(repeat: int, ours: Callable[[], object], floor: Callable[[], object]) -> Timed:
    """Both sides `repeat` times (at least MIN_REPEAT), interleaved, after one warm-up each."""
    repeat = max(repeat, MIN_REPEAT)
    ours(), floor()
    pairs = [(seconds(ours), seconds(floor)) for _ in range(repeat)]
    return Timed(
        ours=statistics.median(a for a, _ in pairs),
        floor=statistics.median(b for _, b in pairs),
        ratio=statistics.median(a / b for a, b in pairs),
    )


def goal_line(path: str, ratio: float, floor: str, goal: str, met: bool, unit: str = "x") -> str:
    """The one line per goal; `ratio` is ours / floor (or a figure in `unit`)."""
    figure = f"{ratio:.2f}{unit}" if unit == "x" else f"{ratio:,.2f} {unit}"
    line = f"goal | {path} | {figure} | {floor} | {goal} | {'yes' if met else 'NO'}"
    print(line, flush=True)
    return line
