"""Independent pieces of numpy work spread over the machine's cores.

Threads, not processes: numpy releases the GIL inside its loops and FFTs, so two threads on
two cores run two chunks of frames at once. Each piece writes only its own slice of the
output, so the result is bit-identical to running the pieces one after another.

While the pieces run, numpy's OpenBLAS is held to one thread (and given back its own
count after): its threads would otherwise compete with ours for the same cores and spin
waiting for work (measured on 2 cores: a third of Generate's CPU time went to that spinning).
Where numpy's BLAS is not an OpenBLAS this module can reach (:func:`blas_is_held`), nothing
is changed, and callers that would hand BLAS work to the pieces keep it in one thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
    with one_blas_thread():
        futures = [_pool.submit(work, a, b) for a, b in spans]
        for future in futures:
            future.result()


def for_each_product_span(work, total: int, span: int) -> None:
    """:func:`for_each_span` for pieces that are mostly matrix products: on the cores when
    numpy's BLAS can be held to one thread (:func:`blas_is_held`), else one after another in
    this thread, where BLAS spreads each product over the cores itself."""
    if blas_is_held():
        for_each_span(work, total, span)
        return
    for a in range(0, total, max(1, span)):
        work(a, min(total, a + span))


# ---- numpy's OpenBLAS threads ----------------------------------------------------------------
_blas: tuple | None = None  # (set_num_threads, get_num_threads) once found
_blas_searched = False
_blas_lock = threading.Lock()
_blas_depth = 0
_blas_saved = 1


def blas_is_held() -> bool:
    """Whether :func:`for_each_span` can hold numpy's BLAS to one thread while it runs, so
    that matrix products split over its pieces use the cores once, not twice over."""
    return _openblas() is not None


def _openblas():
    global _blas, _blas_searched
    if not _blas_searched:
        _blas_searched = True
        _blas = _find_openblas()
    return _blas


def _openblas_files() -> list[str]:
    """numpy's own OpenBLAS (the wheels' numpy.libs/, numpy/.dylibs/, numpy/.libs/), else one
    this process has loaded (Linux: /proc/self/maps)."""
    import numpy

    root = Path(numpy.__file__).resolve().parent
    found = []
    for folder in (root.parent / "numpy.libs", root / ".dylibs", root / ".libs"):
        found += sorted(glob.glob(str(folder / "*openblas*")))
    if not found and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
            found = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()
                            and line.split()[-1].startswith("/")})
    return found


def _find_openblas():
    for path in _openblas_files():
        try:
            lib = ctypes.CDLL(path)  # the library already loaded: the same handle
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                set_n = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                get_n = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if set_n is not None and get_n is not None:
                    set_n.argtypes, set_n.restype = [ctypes.c_int], None
                    get_n.argtypes, get_n.restype = [], ctypes.c_int
                    return set_n, get_n
    return None


@contextlib.contextmanager
def one_blas_thread(active: bool = True):
    """numpy's OpenBLAS on one thread inside (nested and concurrent uses counted), its own
    thread count restored when the last one leaves; nothing changes when ``active`` is False.

    A matrix product's last bits depend on BLAS's thread count, so work that is held here
    gives results a few float32 roundings away from the same work outside."""
    global _blas_depth, _blas_saved
    blas = _openblas() if active else None
    if blas is None:
        yield
        return
    set_n, get_n = blas
    with _blas_lock:
        if _blas_depth == 0:
            _blas_saved = max(1, int(get_n()))
            set_n(1)
        _blas_depth += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                set_n(_blas_saved)
