"""Independent pieces of numpy work spread over the machine's cores.

Threads, not processes: numpy releases the GIL inside its loops and FFTs, so two threads on
two cores run two chunks of frames at once. Each piece writes only its own slice of the
output, so the result is bit-identical to running the pieces one after another.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_MAX_WORKERS = 4
_PREFIX = "a2g-numpy"
_pool: ThreadPoolExecutor | None = None


def worker_count() -> int:
    """The cores this process may use, at most 4 (1 where that cannot be read)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(_MAX_WORKERS, n))


def for_each_span(work, total: int, span: int) -> None:
    """Call ``work(start, end)`` for consecutive spans ``[start, end)`` of ``span`` items
    covering ``range(total)``, on up to :func:`worker_count` threads; returns when all are
    done and re-raises the first exception one of them raised. Called from inside such a
    piece, it runs its spans in that thread (no waiting on a full pool)."""
    spans = [(a, min(total, a + span)) for a in range(0, total, max(1, span))]
    workers = worker_count()
    nested = threading.current_thread().name.startswith(_PREFIX)
    if workers == 1 or len(spans) < 2 or nested:
        for a, b in spans:
            work(a, b)
        return
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=_PREFIX)
    for future in [_pool.submit(work, a, b) for a, b in spans]:
        future.result()
