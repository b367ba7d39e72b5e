"""Cheap scalar randomness for assembling text in Python loops, reproducible from one numpy Generator.

Drawing scalars one by one from ``numpy.random.Generator`` costs a call each; text assembly draws millions.
``Dice`` pre-draws uniforms in blocks and derives picks, integers, Poisson counts and shuffles from them, so
the sequence (and thus every note) depends only on the Generator's seed and the order of the calls.
"""

from __future__ import annotations

import math

import numpy as np



class Dice:
    """Uniforms pre-drawn in blocks from one Generator; cheap scalar draws in Python loops."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 15):
        self.rng, self.block, self.u, self.i = rng, block, [], 0

    def random(self) -> float:
        """A uniform in [0, 1)."""
        if self.i >= len(self.u):
            self.u, self.i = self.rng.random(self.block).tolist(), 0
        self.i += 1
        return self.u[self.i - 1]

    def pick(self, seq):
        """A uniformly chosen item of ``seq``."""
        return seq[int(self.random() * len(seq))]

    def randint(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi], both ends included."""
        return lo + int(self.random() * (hi - lo + 1))

    def poisson(self, lam: float) -> int:
        """A Poisson(lam) count by Knuth's product of uniforms (the means used here are small)."""
        limit, k, p = math.exp(-lam), 0, self.random()
        while p > limit:
            k, p = k + 1, p * self.random()
        return k

    def shuffle(self, items: list) -> list:
        """Fisher-Yates shuffle of ``items`` in place; returns it."""
        for j in range(len(items) - 1, 0, -1):
            r = int(self.random() * (j + 1))
            items[j], items[r] = items[r], items[j]
        return items


# --- the plan: patients and admissions ----------------------------------------------------------------------
