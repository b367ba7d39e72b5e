"""Which codes each admission gets, and what that law implies for the whole cohort.

Per admission of profile k and complexity z: head code c ~ Bernoulli(p[k, c]); m ~ Poisson(mu * z) tail
codes, each from a mixture of profile k's law, a secondary profile's and the base Zipf-Mandelbrot law.
``expected_distinct_codes`` evaluates the same law in closed form (used to calibrate ``CodeConfig``).
"""

from __future__ import annotations

import numpy as np

from .config import CodeConfig, SyntheticConfig
from .plan import Plan
from .world import Kind, World, build_world


def sample_codes(kind: Kind, plan: Plan, sl: slice, cfg: CodeConfig, world: World, rng: np.random.Generator,
                 cap: int, empty: np.ndarray) -> list[list[int]]:
    """Catalogue indices of one kind for admissions ``sl``: head Bernoullis + tail mixture draws, de-duplicated."""
    prof, prof2, z = plan.profile[sl], plan.profile2[sl], plan.z[sl]
    n = len(prof)
    inc = (rng.random((n, len(kind.head))) < kind.head_p[prof]) & ~empty[:, None]
    scale = np.array([p.tail_scale for p in world.profiles])[prof]
    m = np.where(empty, 0, rng.poisson(kind.tail_mean * scale * z))
    owner = np.repeat(np.arange(n), m)
    u, r = rng.random(len(owner)), rng.random(len(owner))
    excl = np.array([p.exclusive for p in world.profiles])[prof[owner]]
    comp = np.where(excl | (r < cfg.primary_weight), 1 + prof[owner],
                    np.where(r < cfg.primary_weight + cfg.secondary_weight, 1 + prof2[owner], 0))
    draw = np.empty(len(owner), np.int64)
    for k in np.unique(comp):
        sel = comp == k
        draw[sel] = np.minimum(np.searchsorted(kind.tail_cdf[k], u[sel], side="right"), len(kind.tail) - 1)
    hi, hj = np.nonzero(inc)
    owners = np.r_[hi, owner]
    codes = np.r_[kind.head[hj], kind.tail[draw]]
    order = np.lexsort((rng.random(len(codes)), owners))  # random order within each admission
    owners, codes = owners[order], codes[order]
    bounds = np.searchsorted(owners, np.arange(n + 1))
    codes = codes.tolist()
    return [list(dict.fromkeys(codes[bounds[i]:bounds[i + 1]]))[:cap] for i in range(n)]


def expected_distinct_codes(n_admissions: int, seed: int = 0, config: SyntheticConfig | None = None) -> dict:
    """Expected number of distinct codes among ``n_admissions`` i.i.d. admissions, from the sampling law.

    A code is absent from one admission with probability E[absent | profile, secondary profile], where tail
    counts are Poisson(mu * z) with z ~ Gamma(r, 1/r), so E[(1 - q)^m] = (1 + mu q / r)^-r (negative binomial
    PGF); the expected count is the sum over codes of 1 - P(absent)^n.
    """
    cfg = config or SyntheticConfig()
    c = cfg.codes
    w = build_world(seed, cfg, text=False)
    K, r = len(w.profiles), c.complexity_shape
    adult = [k for k in range(K) if k != w.newborn]
    pa = w.prior[adult] / w.prior[adult].sum()
    out = {}
    for name, kind in (("dx", w.dx), ("px", w.px)):
        p_empty = c.p_no_procedures if name == "px" else 0.0
        head_absent = np.zeros(len(kind.head))
        tail_absent = np.zeros(len(kind.tail))
        for k in range(K):
            mu = kind.tail_mean * w.profiles[k].tail_scale
            head_absent += w.prior[k] * (p_empty + (1 - p_empty) * (1 - kind.head_p[k]))
            secondaries = [(k, 1.0)] if w.profiles[k].exclusive else list(zip(adult, pa))
            for j, pj in secondaries:
                if w.profiles[k].exclusive:
                    q = kind.tail_pmf[1 + k]
                else:
                    q = (c.primary_weight * kind.tail_pmf[1 + k] + c.secondary_weight * kind.tail_pmf[1 + j]
                         + (1 - c.primary_weight - c.secondary_weight) * kind.tail_pmf[0])
                tail_absent += w.prior[k] * pj * (p_empty + (1 - p_empty) * (1 + mu * q / r) ** -r)
        absent = np.r_[head_absent, tail_absent]
        out[name] = float(np.sum(1 - absent ** n_admissions))
        out[f"{name}_per_admission"] = float(np.sum(1 - absent))
        out[f"{name}_max_tail_prevalence"] = float(np.max(1 - tail_absent))
    out["total"] = out["dx"] + out["px"]
    return out
