"""Frame de-duplication on its own."""

from __future__ import annotations

from unittest.mock import patch

from custom_components.csocket.dedup import DEDUP_SIZE, DEDUP_WINDOW, FrameDedup

KEY = ("24e124148b123456", 7, b"\x08\x70\x01")


def test_copies_within_the_window_count_once() -> None:
    """Gateway copies are duplicates; the same frame much later is new."""
    dedup = FrameDedup()
    with patch("custom_components.csocket.dedup.time.monotonic", return_value=100.0):
        assert not dedup.is_duplicate(KEY)
        assert dedup.is_duplicate(KEY)
    later = 100.0 + DEDUP_WINDOW + 1
    with patch("custom_components.csocket.dedup.time.monotonic", return_value=later):
        assert not dedup.is_duplicate(KEY)


def test_join_forgets_and_size_is_bounded() -> None:
    """A join restarts counters; old keys fall out beyond the size."""
    dedup = FrameDedup()
    assert not dedup.is_duplicate(KEY)
    dedup.forget(KEY[0])
    assert not dedup.is_duplicate(KEY)
    for f_cnt in range(DEDUP_SIZE):
        dedup.is_duplicate(("0000000000000001", f_cnt, b""))
    assert not dedup.is_duplicate(KEY)
