"""The cyclic garbage collector is paused for a block and resumed as it was, whatever happens inside."""

from __future__ import annotations

import gc

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
