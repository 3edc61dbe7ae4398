"""Python's cyclic garbage collector, paused while kb builds or reads large structures.

Loading 10,000 articles or reading a build's 340,000 passages makes hundreds of thousands of small
objects; the collector walks them all again each time a generation fills, which tripled those steps
(unpickling the kept renderings: 1.2 s with it, 0.35 s without). Reference counting still frees what
they drop, and nothing they make holds cycles that must go at once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Run the block without cyclic collections; the collector resumes as it was (nested blocks are fine)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            _promote()
            gc.enable()


def _promote() -> None:
    """Move what the block made out of the youngest generation, without walking it.

    What the block made is in the youngest generation, which the next allocation after ``gc.enable`` collects:
    a walk over all of it (0.7 s after loading 10,000 articles) only to promote it, and later walks again as
    it ages. In a process whose objects are not frozen, every tracked object moves into the oldest generation,
    which only full collections walk (they come when it has grown by a quarter through collections, so the
    block's garbage cycles, if any, still go). In a process with frozen objects (a gunicorn worker: see
    ``gunicorn.conf.py``), that would unfreeze the master's objects too; there the block's objects are frozen
    beside them instead (``_freeze_too``).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
    else:
        _freeze_too()


RECLAIM_EVERY = 64  # blocks frozen in a worker between two full collections that free their garbage cycles
_frozen_blocks = [0]


def _freeze_too() -> None:
    """Freeze what the block made, with the master's objects: never walked, and freed as usual when dropped.

    A worker opening a new index build spent 0.3-1.0 s of its 1.4 s in collections walking what it had just
    loaded. Frozen, a garbage cycle the block made is not freed (numpy's header parser leaves one of about
    ten small objects for each file it reads: some 300 a build); every ``RECLAIM_EVERY`` blocks one full
    collection over everything, the master's objects included, frees them, then all is frozen again.
    """
    _frozen_blocks[0] += 1
    if _frozen_blocks[0] % RECLAIM_EVERY == 0:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
