import random

from app.core.backoff import Backoff


def test_backoff_grows_within_the_cap_and_never_below_the_floor():
    policy = Backoff(base=5, cap=300, floor=1)
    rng = random.Random(3)
    for failures in range(1, 30):
        ceiling = min(300, 5 * 2 ** (failures - 1))
        draws = [policy.delay(failures, rng) for _ in range(200)]
        assert all(1 <= d <= max(1, ceiling) for d in draws)
    late = [policy.delay(20, rng) for _ in range(500)]
    assert max(late) > 250  # full jitter really spreads up to the cap


def test_retry_after_is_respected():
    policy = Backoff(base=5, cap=300)
    assert policy.delay(1, random.Random(1), retry_after=120) >= 120
