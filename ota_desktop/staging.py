"""Staged-rollout marking: which of a cohort's current devices are staged (SPEC §4).

Pure: the caller supplies the cohort's device ids, who is staged now, the percentage and a
seed; the store applies the result and records the seed so a run can be reproduced.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StagingChange:
    mark: tuple[int, ...]
    unmark: tuple[int, ...]
    target: int


def staged_target(cohort_size: int, percent: float) -> int:
    """How many devices make ``percent`` of the cohort, rounding half up (11% of 54,000 = 5,940)."""
    return int(cohort_size * percent / 100 + 0.5)


def plan_staging(
    device_ids: Sequence[int], staged: Collection[int], percent: float, seed: int
) -> StagingChange:
    """Mark or unmark devices so that the staged share equals ``percent``.

    Raising the percentage keeps everyone already staged and adds a random subset of the rest;
    lowering it unmarks a random subset of the staged devices.
    """
    if not 0 <= percent <= 100:
        raise ValueError("a rollout percentage is between 0 and 100")
    rng = random.Random(seed)
    target = staged_target(len(device_ids), percent)
    staged_now = sorted(set(staged))
    if len(staged_now) < target:
        candidates = sorted(set(device_ids) - set(staged_now))
        return StagingChange(tuple(sorted(rng.sample(candidates, target - len(staged_now)))),
                             (), target)
    if len(staged_now) > target:
        return StagingChange((), tuple(sorted(rng.sample(staged_now, len(staged_now) - target))),
                             target)
    return StagingChange((), (), target)
