"""Exponential backoff with jitter, as a small object (psycopg_pool's AttemptWithBackoff).

The delays are class constants so tests patch them (``Backoff.INITIAL_S = 0.01``)
instead of sleeping. ``next_delay()`` never exceeds ``MAX_S``; ``reset()`` after a
success starts over.
"""

from __future__ import annotations

import random


class Backoff:
    INITIAL_S: float = 0.5
    MAX_S: float = 10.0
    FACTOR: float = 2.0
    JITTER: float = 0.1  # +/- fraction of the delay

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next try; grows with every call until ``reset()``."""
        base = min(self.MAX_S, self.INITIAL_S * self.FACTOR**self.attempts)
        self.attempts += 1
        jitter = base * self.JITTER * (2 * self._rng.random() - 1)
        return max(0.0, min(self.MAX_S, base + jitter))

    def reset(self) -> None:
        self.attempts = 0

    @property
    def failing(self) -> bool:
        return self.attempts > 0
