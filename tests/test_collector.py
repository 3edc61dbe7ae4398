"""The cyclic garbage collector is paused for a block and resumed as it was, whatever happens inside."""

from __future__ import annotations

import gc
import weakref

import pytest

from kb import collector


def test_a_block_runs_without_collections_and_the_collector_resumes_after() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # nested: still paused, and the outer block's state is kept
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector.paused():
        raise ValueError("a failed load")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


class _Node:
    """A container that can hold itself: a garbage cycle only a collection frees."""

    def __init__(self) -> None:
        self.me: _Node | None = None


def test_what_a_block_made_goes_to_the_oldest_generation_and_its_cycles_are_still_collected() -> None:
    # The youngest generation is collected at the first allocation after the block: at 10,000 articles a
    # 0.7 s walk over what the load made, only to promote it. Moved to the oldest, it is walked by full
    # collections alone, and a cycle dropped there is still freed by one.
    gc.collect()
    with collector.paused():
        made = [[i] for i in range(5_000)]
        cycle = _Node()
        cycle.me = cycle
    gone = weakref.ref(cycle)
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(x) in oldest for x in made) and id(made) in oldest
    assert gc.get_count()[0] < 1_000  # the youngest generation is empty again
    del cycle
    gc.collect(0)
    assert gone() is not None  # a young collection no longer walks it
    gc.collect()
    assert gone() is None


def test_a_process_with_frozen_objects_keeps_them_frozen_and_freezes_what_a_block_made() -> None:
    # A gunicorn worker: the master froze what it loaded so that collections never copy its pages. A block
    # there (a worker opening a new build) freezes what it made too: never walked by a collection (which took
    # up to 1 s of a worker's 1.4 s open at 10,000 articles), freed as usual when dropped.
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector.paused():
            made = [_Node() for _ in range(1_000)]
        assert gc.get_freeze_count() >= frozen + len(made)  # the master's objects, and the block's beside them
        assert id(made) not in {id(o) for o in gc.get_objects(generation=2)}
        assert gc.get_count()[0] < 1_000  # nothing left in the youngest generation to walk
        kept = weakref.ref(made[0])
        del made
        assert kept() is None  # a frozen object is still freed when the last reference goes
    finally:
        gc.unfreeze()


def test_garbage_cycles_frozen_in_a_worker_are_freed_by_a_full_collection_now_and_then() -> None:
    gc.collect()
    gc.freeze()
    try:
        cycle = _Node()
        with collector.paused():
            cycle.me = cycle  # a cycle the block made, dropped after it was frozen
        gone = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert gone() is not None  # frozen: no collection walks it
        for _ in range(collector.RECLAIM_EVERY):
            with collector.paused():
                pass
        assert gone() is None  # the periodic full collection freed it
        assert gc.get_freeze_count() > 0  # and the worker's objects are frozen again
    finally:
        gc.unfreeze()
