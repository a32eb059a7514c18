"""``plan_chunks``: the STOW-RS requests of one ``/servers/{name}/stow`` call.

Seed, "Sending DICOM resources to a STOW-RS server", remark 2: one call may
give several HTTP requests; ``StowMaxInstances`` bounds the instances of one
request, ``StowMaxSize`` its body in MB, and 0 means no limit for either
(both 0: one single request).  An instance larger than the size limit cannot
be split and travels alone.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomweb_mock.client.chunking import plan_chunks

MB = 1024 * 1024


def test_both_limits_0_gives_one_request() -> None:
    assert plan_chunks([5 * MB] * 30, 0, 0) == [list(range(30))]


def test_no_instances_gives_no_request() -> None:
    assert plan_chunks([], 10, 10) == []


@pytest.mark.parametrize("count, limit, expected", [(10, 10, [10]), (11, 10, [10, 1]), (25, 10, [10, 10, 5]),
                                                    (3, 1, [1, 1, 1]), (7, 3, [3, 3, 1])])
def test_instance_limit(count: int, limit: int, expected: list[int]) -> None:
    chunks = plan_chunks([100] * count, limit, 0)
    assert [len(c) for c in chunks] == expected
    assert [i for c in chunks for i in c] == list(range(count))


def test_size_limit_counts_the_body_overhead() -> None:
    half = MB // 2
    assert plan_chunks([half, half], 0, 1) == [[0, 1]]  # exactly 1 MB fits
    assert plan_chunks([half, half], 0, 1, overhead=1) == [[0], [1]]  # one byte more does not
    assert plan_chunks([half, half - 10], 0, 1, overhead=10) == [[0, 1]]


def test_instance_larger_than_the_size_limit_travels_alone() -> None:
    sizes = [100, 200, 3 * MB, 300, 2 * MB, 2 * MB]
    assert plan_chunks(sizes, 0, 1) == [[0, 1], [2], [3], [4], [5]]


def test_both_limits_apply_together() -> None:
    sizes = [400_000] * 7  # two fit in 1 MB, three do not
    assert plan_chunks(sizes, 3, 1) == [[0, 1], [2, 3], [4, 5], [6]]
    assert plan_chunks(sizes, 2, 2) == [[0, 1], [2, 3], [4, 5], [6]]
    assert plan_chunks(sizes, 4, 2) == [[0, 1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize("instances, size", [(-1, 0), (0, -1)])
def test_negative_limits_are_refused(instances: int, size: int) -> None:
    with pytest.raises(ValueError, match="limits"):
        plan_chunks([1], instances, size)


@settings(max_examples=150, deadline=None)
@given(sizes=st.lists(st.integers(0, 3 * MB), max_size=40), max_instances=st.integers(0, 6),
       max_mb=st.integers(0, 3), overhead=st.integers(0, 500))
def test_chunks_partition_in_order_within_the_limits(sizes: list[int], max_instances: int, max_mb: int,
                                                     overhead: int) -> None:
    chunks = plan_chunks(sizes, max_instances, max_mb, overhead)
    assert [i for c in chunks for i in c] == list(range(len(sizes)))  # every item once, in order
    assert all(chunks)
    for number, chunk in enumerate(chunks):
        body = overhead + sum(sizes[i] for i in chunk)
        if max_instances:
            assert len(chunk) <= max_instances
        if max_mb and len(chunk) > 1:
            assert body <= max_mb * MB
        if number + 1 < len(chunks):  # a request is cut only when the next item would break a limit
            following = sizes[chunks[number + 1][0]]
            assert (max_instances and len(chunk) == max_instances) or (max_mb and body + following > max_mb * MB)
    if not max_instances and not max_mb:
        assert len(chunks) == (1 if sizes else 0)
