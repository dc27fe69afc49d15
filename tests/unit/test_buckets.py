import pytest
import torch

from workers.text_packing import length_buckets, unbucket


def covers_every_row_once(buckets, n):
    return sorted(torch.cat(buckets).tolist()) == list(range(n))


def test_equal_lengths_stay_one_bucket_in_order():
    buckets = length_buckets(torch.full((7,), 5), max_buckets=3)
    assert len(buckets) == 1 and buckets[0].tolist() == list(range(7))


def test_short_and_long_rows_are_split_by_length():
    lengths = torch.tensor([3, 12, 3, 4, 12, 3, 11, 4])
    buckets = length_buckets(lengths, max_buckets=3)
    assert 2 <= len(buckets) <= 3 and covers_every_row_once(buckets, len(lengths))
    longest = [int(lengths[b].max()) for b in buckets]
    assert longest == sorted(longest)  # shortest bucket first
    assert set(buckets[-1].tolist()) == {1, 4, 6}  # the long rows together
    assert all(int(lengths[b].max()) <= 4 for b in buckets[:-1])


def test_a_small_saving_is_not_worth_a_bucket():
    lengths = torch.tensor([10] * 31 + [11])  # splitting saves 31 of 352 tokens (9 %)
    assert len(length_buckets(lengths, max_buckets=3, min_saving=0.15)) == 1
    assert len(length_buckets(lengths, max_buckets=3, min_saving=0.0)) == 2


@pytest.mark.parametrize("max_buckets", [1, 2, 3, 5])
def test_never_more_than_max_buckets(max_buckets):
    lengths = torch.arange(20) % 9 + 2
    buckets = length_buckets(lengths, max_buckets=max_buckets, min_saving=0.0)
    assert len(buckets) == min(max_buckets, 9) and covers_every_row_once(buckets, 20)


def test_unbucket_restores_the_original_order():
    lengths = torch.tensor([9, 2, 2, 8, 3, 9, 2])
    rows = torch.arange(7.0)[:, None] * torch.ones(1, 4)  # (7, 4): row i holds i
    buckets = length_buckets(lengths, max_buckets=3)
    assert len(buckets) > 1
    torch.testing.assert_close(unbucket([rows[b] for b in buckets], buckets), rows)


def test_max_buckets_must_be_positive():
    with pytest.raises(ValueError, match="max_buckets >= 1 must hold, but got max_buckets=0"):
        length_buckets(torch.tensor([1, 2]), max_buckets=0)
