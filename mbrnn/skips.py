"""Counted skips of the cohort builder and the limits on them (``cohort.max_skip_share``).

Every row that does not make it into the cohort is counted by cause; a cause that loses more than its limit's
share of its input, or an empty cohort, stops the build before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import LOSS_CAUSES
from .raw import CohortInputError

DEFAULT_LIMITS = {"default": 0.2}
"""``cohort.max_skip_share`` when none is given (params.yaml states the study's)."""


class CohortLossError(CohortInputError):
    """The cohort would be empty, or one cause lost more of its input than ``cohort.max_skip_share`` allows."""



@dataclass
class Skips:
    """Counted, reported skips: every row that did not make it into the cohort, and why.

    ``of`` holds each cause's denominator (what its share is taken of, :data:`config.LOSS_CAUSES`); ``checked``
    counts that are limited like skips but not reported in the summary (codes unknown to the dictionary, which
    stay in the cohort); ``hints`` say what a cause's excess most likely means."""

    counts: dict[str, int] = field(default_factory=dict)
    of: dict[str, int] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, n: int, of: int | None = None) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + int(n)
        if of is not None:
            self.of[reason] = self.of.get(reason, 0) + int(of)

    def merge(self, other: Skips) -> None:
        for reason, n in other.counts.items():
            self.add(reason, n, other.of.get(reason))
        for reason, n in other.checked.items():
            self.checked[reason] = self.checked.get(reason, 0) + n
            self.of[reason] = self.of.get(reason, 0) + other.of.get(reason, 0)
        self.hints.update(other.hints)

    def check(self, limits: dict[str, float]) -> None:
        """Raise :class:`CohortLossError` for the first cause whose share exceeds its limit."""
        for cause, n in sorted({**self.counts, **self.checked}.items()):
            total = self.of.get(cause, 0)
            if cause not in LOSS_CAUSES or not total:
                continue
            key = cause if cause in limits else "default"
            if n > limits[key] * total:
                raise CohortLossError(
                    f"{cause}: {n} of {total} {LOSS_CAUSES[cause]} ({n / total:.1%}), more than params.yaml "
                    f"cohort.max_skip_share.{key} = {limits[key]}. {self.hints.get(cause, '')} Nothing was written; "
                    "the previous cohort is untouched.".replace("  ", " "))


def check_not_empty(n: int, what: str, skips: Skips) -> None:
    """An empty cohort (or split) is an error naming the largest counted causes."""
    if n:
        return
    causes = sorted(((c, k) for c, k in skips.counts.items() if k and c in LOSS_CAUSES), key=lambda x: -x[1])[:3]
    raise CohortLossError(f"the cohort has no {what}. Largest counted causes: "
                          f"{', '.join(f'{c} = {k}' for c, k in causes) or 'none'}. Nothing was written; the previous "
                          "cohort is untouched.")

