"""The cohort's plan: patients and admissions, drawn for the whole cohort at once (vectorised).

Ids, sexes, birth and death dates, admission and discharge times, each admission's latent profiles and
complexity, and which admissions carry which of MIMIC-III's quirks (no discharge summary, an addendum, a
duplicated code row, ...). Notes and codes are then generated chunk by chunk from this plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import CohortConfig, Scale, SyntheticConfig
from .world import World

MINUTES_PER_DAY, MINUTES_PER_YEAR = 1440, 525_960


@dataclass
class Plan:
    """Patients (P,) and admissions (N,); datetimes are ``datetime64[m]``, NaT where absent."""

    # patients (P,)
    subject_id: np.ndarray
    gender: np.ndarray
    dob: np.ndarray
    dod: np.ndarray
    dod_hosp: np.ndarray
    dod_ssn: np.ndarray
    # admissions (N,), ordered by subject then time
    patient: np.ndarray  # index into the patient arrays
    hadm_id: np.ndarray
    admit: np.ndarray
    disch: np.ndarray
    died: np.ndarray
    age: np.ndarray  # years at admission (300+ for shifted > 89)
    profile: np.ndarray
    profile2: np.ndarray
    z: np.ndarray  # complexity
    length: np.ndarray  # summary length factor
    n_other: np.ndarray  # non-discharge notes
    no_px: np.ndarray
    has_ds: np.ndarray
    flags: dict[str, np.ndarray]


def make_plan(sc: Scale, cfg: SyntheticConfig, world: World, rng: np.random.Generator) -> Plan:
    """Draw every patient and admission of a cohort of size ``sc`` (the draws' order is part of the output)."""
    cc, N = cfg.cohort, sc.n_admissions
    newborn_pat, counts, subject_id, gender = _patients(sc, cc, world, rng)
    patient, within, first, admit, disch = _stays(newborn_pat, counts, N, cc, rng)
    dob, age = _ages(first, newborn_pat, patient, admit, cc, rng)
    profile, profile2, z, length, n_other = _latents(newborn_pat[patient], sc, cfg, world, rng)
    died, dod, dod_hosp, dod_ssn = _deaths(patient, within, counts, newborn_pat, disch, cc, rng)
    hadm_id, has_ds, no_px, flags = _quirks(cfg, N, rng)
    return Plan(subject_id, gender, dob, dod, dod_hosp, dod_ssn, patient, hadm_id, admit, disch,
                died, age, profile, profile2, z, length, n_other, no_px, has_ds, flags)


def _patients(sc: Scale, cc: CohortConfig, world: World, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Which patients are newborns (one admission each), admissions per patient, subject ids and sexes.

    Adults get 1 + a heavy-tailed share of the readmissions (Gamma propensities, then a multinomial).
    """
    N = sc.n_admissions
    P = min(sc.n_patients, N)
    nb = world.newborn
    n_nb = 0 if nb is None else min(int(round(world.prior[nb] * N)), P - 1)
    newborn_pat = np.zeros(P, bool)
    newborn_pat[rng.choice(P, n_nb, replace=False)] = True
    counts = np.ones(P, np.int64)
    propensity = rng.gamma(cc.extra_admission_shape, size=P - n_nb) + 1e-12
    counts[~newborn_pat] += rng.multinomial(N - P, propensity / propensity.sum())
    subject_id = np.sort(rng.choice(np.arange(2, 2 + max(99_998, 2 * P)), P, replace=False))
    male = np.where(newborn_pat, rng.random(P) < 0.5, rng.random(P) < cc.p_male)
    return newborn_pat, counts, subject_id, np.where(male, "M", "F")


def _stays(newborn_pat: np.ndarray, counts: np.ndarray, N: int, cc: CohortConfig,
           rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Admission and discharge times: lognormal stays, exponential gaps between a patient's admissions.

    Returns (patient of each admission, its rank within the patient, each patient's first admission time,
    admit, disch).
    """
    P = len(counts)
    patient = np.repeat(np.arange(P), counts)
    starts = np.cumsum(counts) - counts
    within = np.arange(N) - starts[patient]
    newborn = newborn_pat[patient]
    los = np.exp(rng.normal(np.log(cc.los_median_days * MINUTES_PER_DAY), cc.los_sigma, N))
    los = np.maximum(np.round(los * np.where(newborn, 0.6, 1.0)), 120).astype(np.int64)
    gap = np.round(rng.exponential(cc.readmission_gap_days * MINUTES_PER_DAY, N)).astype(np.int64) + MINUTES_PER_DAY
    inc = np.where(within == 0, 0, gap + np.r_[0, los[:-1]])
    offset = np.cumsum(inc)
    offset -= offset[starts][patient]
    first = np.datetime64("2100-01-01T00:00", "m") + rng.integers(0, 95 * 365 * MINUTES_PER_DAY, P)
    admit = first[patient] + offset
    return patient, within, first, admit, admit + los


def _ages(first: np.ndarray, newborn_pat: np.ndarray, patient: np.ndarray, admit: np.ndarray, cc: CohortConfig,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Dates of birth and ages at admission; ages over 89 are shifted to ~300 years, as MIMIC does."""
    P = len(first)
    age0 = np.clip(np.round(rng.normal(cc.age_mean, cc.age_sd, P)), 18, 89).astype(np.int64)
    age0 = np.where(rng.random(P) < cc.p_over_89, 300 + rng.integers(0, 10, P), age0)
    age0[newborn_pat] = 0
    dob = (first - age0 * MINUTES_PER_YEAR - rng.integers(1, 364, P) * MINUTES_PER_DAY).astype("datetime64[D]")
    dob = np.where(newborn_pat, first.astype("datetime64[D]"), dob).astype("datetime64[m]")
    age = ((admit - dob[patient]).astype(np.int64) // MINUTES_PER_YEAR).astype(np.int64)
    return dob, age


def _latents(newborn: np.ndarray, sc: Scale, cfg: SyntheticConfig, world: World,
             rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Per admission: profile, secondary profile, complexity z, summary length factor, number of other notes."""
    N, nb = len(newborn), world.newborn
    adult = np.array([k for k in range(len(world.profiles)) if k != nb])
    pa = world.prior[adult] / world.prior[adult].sum()
    profile = np.where(newborn, -1 if nb is None else nb, adult[rng.choice(len(adult), N, p=pa)])
    profile2 = adult[rng.choice(len(adult), N, p=pa)]
    r = cfg.codes.complexity_shape
    z = rng.gamma(r, 1 / r, N)
    ts = cfg.text.length_sigma
    length = np.sqrt(z) * np.exp(rng.normal(-ts * ts / 2, ts, N))
    n_other = rng.poisson(sc.other_notes_per_admission * np.exp(rng.normal(-0.32, 0.8, N)))
    return profile, profile2, z, length, n_other


def _day(t: np.ndarray) -> np.ndarray:
    """Midnight of each datetime (MIMIC's DOD columns carry dates only)."""
    return t.astype("datetime64[D]").astype("datetime64[m]")


def _deaths(patient: np.ndarray, within: np.ndarray, counts: np.ndarray, newborn_pat: np.ndarray,
            disch: np.ndarray, cc: CohortConfig, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Deaths in hospital (at an adult's last admission) or later; DOD, DOD_HOSP and DOD_SSN as in PATIENTS."""
    P, N = len(counts), len(patient)
    starts = np.cumsum(counts) - counts
    last = within == counts[patient] - 1
    died = last & ~newborn_pat[patient] & (rng.random(N) < cc.p_hospital_death)
    later = ~newborn_pat & (rng.random(P) < cc.p_later_death)
    last_disch = disch[starts + counts - 1]
    dod = np.full(P, np.datetime64("NaT"), "datetime64[m]")
    dod_hosp, dod_ssn = dod.copy(), dod.copy()
    died_pat = np.zeros(P, bool)
    died_pat[patient[died]] = True
    later &= ~died_pat
    dod[died_pat] = _day(last_disch[died_pat])
    dod_hosp[died_pat] = dod[died_pat]
    later_dod = _day(last_disch + np.round(rng.exponential(500 * MINUTES_PER_DAY, P)).astype(np.int64))
    dod[later] = later_dod[later]
    ssn = later | (died_pat & (rng.random(P) < 0.7))
    dod_ssn[ssn] = dod[ssn]
    return died, dod, dod_hosp, dod_ssn


def _flag(rng: np.random.Generator, eligible: np.ndarray, p: float, minimum: int = 1) -> np.ndarray:
    """Bernoulli(p) over ``eligible`` rows, topped up to ``minimum`` hits so that small cohorts show every quirk."""
    out = eligible & (rng.random(len(eligible)) < p)
    pool = np.flatnonzero(eligible & ~out)
    short = min(minimum - int(out.sum()), len(pool))
    if short > 0:
        out[rng.choice(pool, short, replace=False)] = True
    return out


def _quirks(cfg: SyntheticConfig, N: int, rng: np.random.Generator) -> tuple:
    """Admission ids, which admissions have a discharge summary or no procedure, and MIMIC's quirks as flags."""
    cc, c = cfg.cohort, cfg.codes
    hadm_id = 100_000 + rng.choice(max(99_999, 2 * N), N, replace=False)
    no_ds = _flag(rng, np.ones(N, bool), cc.p_no_discharge_summary)
    no_ds[0] = no_ds[0] and not no_ds.all()
    has_ds = ~no_ds
    no_px = rng.random(N) < c.p_no_procedures
    flags = {
        "second_report": _flag(rng, has_ds, cc.p_second_report),
        "addendum": _flag(rng, has_ds, cc.p_addendum),
        "ds_iserror": _flag(rng, has_ds, cc.p_discharge_iserror),
        "dup_dx": _flag(rng, np.ones(N, bool), c.p_duplicate_dx),
        "dup_px": _flag(rng, ~no_px, c.p_duplicate_px),
        "null_code": _flag(rng, np.ones(N, bool), c.p_null_code),
        "unknown_code": _flag(rng, np.ones(N, bool), c.p_unknown_code),
    }
    flags["unknown_px"] = flags["unknown_code"] & (rng.random(N) < c.p_unknown_px)
    return hadm_id, has_ds, no_px, flags
