"""Typed, validated configuration of the sections of ``params.yaml``: one dataclass per section, whose defaults
are the only defaults.

Every parameter is checked before any data is read, and every error names the ``params.yaml`` key, so a typo
costs a second, not a pass over NOTEEVENTS. :func:`load_params` turns YAML syntax errors and missing sections
into :class:`ParamsError` too.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import text

SOURCES = ("synthetic", "mimic3", "mimic4")
FORMATS = ("mimic3", "mimic4")
LABEL_SETTINGS = ("full", "top_k")
SPLIT_METHODS = ("stratified", "caml", "edin")
CODE_SYSTEMS = ("icd9", "icd10")
CCS_PX_FALLBACKS = (None, "icd9_two_digit", "pcs_three_character")
PX_FALLBACK_OF = {"icd9": "icd9_two_digit", "icd10": "pcs_three_character"}
HCUP_PRREF = ("HCUP's '$prref 2015.csv' (Single Level CCS for ICD-9-CM procedures, in Single_Level_CCS_2015.zip "
              "from https://hcup-us.ahrq.gov/toolssoftware/ccs/ccs.jsp)")
HCUP_PRCCSR = ("HCUP's PRCCSR CSV (e.g. PRCCSR_v2023-1.csv, CCSR for ICD-10-PCS procedures, from "
               "https://hcup-us.ahrq.gov/toolssoftware/ccsr/prccsr.jsp)")
HCUP_DXCCSR = ("HCUP's DXCCSR CSV (e.g. DXCCSR_v2023-1.csv, CCSR for ICD-10-CM diagnoses, from "
               "https://hcup-us.ahrq.gov/toolssoftware/ccsr/dxccsr.jsp)")

LOSS_CAUSES = {
    # cause: what its share is taken of
    "discharge_rows_garbled": "discharge-summary records",
    "discharge_rows_duplicated": "discharge-summary records",
    "discharge_iserror_rows": "discharge-summary records",
    "discharge_rows_without_hadm_id": "discharge-summary records",
    "discharge_rows_non_utf8_repaired": "discharge-summary records",
    "discharge_rows_empty_text": "discharge-summary records",
    "diagnoses_icd_rows_malformed": "DIAGNOSES_ICD rows",
    "diagnoses_icd_rows_bad_ids": "DIAGNOSES_ICD rows",
    "diagnoses_icd_null_codes": "DIAGNOSES_ICD rows",
    "diagnoses_icd_malformed_codes": "DIAGNOSES_ICD rows",
    "diagnoses_icd_unknown_codes": "DIAGNOSES_ICD rows",
    "procedures_icd_rows_malformed": "PROCEDURES_ICD rows",
    "procedures_icd_rows_bad_ids": "PROCEDURES_ICD rows",
    "procedures_icd_null_codes": "PROCEDURES_ICD rows",
    "procedures_icd_malformed_codes": "PROCEDURES_ICD rows",
    "procedures_icd_unknown_codes": "PROCEDURES_ICD rows",
    "diagnoses_icd_unknown_icd_version": "diagnoses_icd rows",
    "procedures_icd_unknown_icd_version": "procedures_icd rows",
    "admissions_with_mixed_icd_versions": "coded admissions",
    "duplicate_code_rows": "code rows",
    "summaries_without_codes": "admissions with a discharge summary",
    "coded_admissions_without_summary": "admissions with codes",
    "summaries_empty_after_normalisation": "admissions with a summary and codes",
    "caml_listed_admissions_not_in_cohort": "admissions in the CAML lists",
    "edin_listed_admissions_not_in_cohort": "admissions in the Edin et al. split file",
    "admissions_without_full_code": "admissions",
    "admissions_without_top_k_code": "admissions",
}
"""Every cause that loses input, with its denominator. ``addenda_appended`` (nothing lost),
``cohort_admissions_not_in_caml_lists`` / ``cohort_admissions_not_in_edin_split`` (a selection by design:
MIMIC-III-50 lists a fifth of the admissions) and ``admissions_coded_in_other_icd_version`` with
``summaries_of_admissions_in_other_icd_version`` (MIMIC-IV: the other ``cohort.code_system``) are counted but not
limited."""


class ParamsError(ValueError):
    """``params.yaml`` is malformed or holds a value the study cannot run with; the message names the key."""


def load_params(path: str | Path = "params.yaml", sections: tuple[str, ...] = ("data", "cohort")) -> dict:
    """``params.yaml`` as a dict; syntax errors and missing ``sections`` are :class:`ParamsError`."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the mbrnn repository (it ships params.yaml)") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', None) or type(e).__name__}; "
                          "fix it (indentation, a missing ':' or an unclosed bracket are the usual causes)") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of sections (data:, cohort:, ...), found {type(params).__name__}")
    for name in sections:
        if not isinstance(params.get(name), dict):
            raise ParamsError(f"{path}: section '{name}:' is missing or not a mapping; copy it from the repository's "
                              "params.yaml")
    return params


def _int(key: str, value, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"params.yaml {key} must be an integer, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ParamsError(f"params.yaml {key} must be {bounds}, got {value!r}")
    return value


def _choice(key: str, value, choices) -> str:
    if value not in choices:
        raise ParamsError(f"params.yaml {key} must be one of {list(choices)}, got {value!r}")
    return value


def _path(key: str, value, optional: bool = True):
    if value is None and optional:
        return None
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ParamsError(f"params.yaml {key} must be a path{' or null' if optional else ''}, got {value!r}")
    return str(value)


def _share(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ParamsError(f"params.yaml {key} must be a number between 0 and 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class DataConfig:
    """The ``data`` section."""

    source: str = "synthetic"
    raw_dir: str = "data/raw"
    synthetic_scale: str | int = "demo"
    synthetic_seed: int = 0
    synthetic_format: str = "mimic3"

    def __post_init__(self):
        _choice("data.source", self.source, SOURCES)
        _choice("data.synthetic_format", self.synthetic_format, FORMATS)
        _path("data.raw_dir", self.raw_dir, optional=False)
        if self.synthetic_scale not in ("demo", "full"):
            _int("data.synthetic_scale (demo, full or a number of admissions)", self.synthetic_scale, lo=1)
        _int("data.synthetic_seed", self.synthetic_seed, lo=0)

    @property
    def format(self) -> str:
        """The raw tables' layout: ``mimic3`` or ``mimic4`` (the real source's, or the synthetic one's)."""
        return self.synthetic_format if self.source == "synthetic" else self.source

    @classmethod
    def from_params(cls, params: dict) -> DataConfig:
        return _from_section(cls, params, "data")

    @classmethod
    def of(cls, section: dict) -> DataConfig:
        """From a stage's part of the ``data`` section (the keys it declares in dvc.yaml; the rest default)."""
        unknown = sorted(set(section) - set(cls.__dataclass_fields__))
        if unknown:
            raise ParamsError(f"params.yaml data: unknown key(s) {unknown}; known keys: {sorted(cls.__dataclass_fields__)}")
        return cls(**section)


@dataclass(frozen=True)
class CohortConfig:
    """The ``cohort`` section. Settings that depend on ``data`` (which code system and CCS fallback a source
    allows) are checked by :meth:`check_with`, which :meth:`from_params` and ``cohort.build_cohort`` call."""

    cohort_dir: str = "data/cohort"
    code_system: str = "icd9"
    label_setting: str = "full"
    top_k: int = 50
    text_norm: str = "caml"
    split: str = "stratified"
    split_ratios: tuple = (0.8, 0.1, 0.1)
    stratify_labels: int = 100
    split_seed: int = 0
    caml_splits_dir: str | None = None
    caml_splits_download: bool = False
    edin_splits_dir: str | None = None
    ccs_px_file: str | None = None
    ccs_px_fallback: str | None = None
    ccsr_dx_file: str | None = None
    ccsr_px_file: str | None = None
    max_skip_share: dict = field(default_factory=lambda: {"default": 0.2})

    def __post_init__(self):
        _path("cohort.cohort_dir", self.cohort_dir, optional=False)
        _choice("cohort.code_system", self.code_system, CODE_SYSTEMS)
        if self.label_setting == "top50":  # the setting's name before it was named for what it is
            raise ParamsError("params.yaml cohort.label_setting: 'top50' is now called 'top_k' (the cohort.top_k most "
                              "frequent codes; top_k: 50 is MIMIC-III-50)")
        _choice("cohort.label_setting", self.label_setting, LABEL_SETTINGS)
        _int("cohort.top_k", self.top_k, lo=1)
        _choice("cohort.text_norm", self.text_norm, text.SCHEMES)
        _choice("cohort.split", self.split, SPLIT_METHODS)
        _ratios(self.split_ratios)
        _int("cohort.stratify_labels", self.stratify_labels, lo=1)
        _int("cohort.split_seed", self.split_seed, lo=0, hi=2**32 - 1)
        self._check_split_files()
        _choice("cohort.ccs_px_fallback", self.ccs_px_fallback, CCS_PX_FALLBACKS)
        self._check_aux_files()
        limits(self.max_skip_share)

    def _check_split_files(self) -> None:
        _path("cohort.caml_splits_dir", self.caml_splits_dir)
        _path("cohort.edin_splits_dir", self.edin_splits_dir)
        if self.split == "caml" and self.caml_splits_dir is None:
            raise ParamsError("params.yaml cohort.split is 'caml' but cohort.caml_splits_dir is null: point it at a "
                              "folder with {train,dev,test}_{full,50}_hadm_ids.csv from github.com/jamesmullenbach/"
                              "caml-mimic (mimicdata/mimic3), or use cohort.split: stratified")
        if self.split == "edin" and self.edin_splits_dir is None:
            raise ParamsError("params.yaml cohort.split is 'edin' but cohort.edin_splits_dir is null: point it at a "
                              "folder with mimiciv_icd9_split.feather / mimiciv_icd10_split.feather from github.com/"
                              "JoakimEdin/medical-coding-reproducibility (files/data), or use cohort.split: stratified")
        if not isinstance(self.caml_splits_download, bool):
            raise ParamsError(f"params.yaml cohort.caml_splits_download must be true or false, got {self.caml_splits_download!r}")

    def _check_aux_files(self) -> None:
        """The HCUP files of the auxiliary task: each exists, and belongs to the code system chosen."""
        files = {"ccs_px_file": (HCUP_PRREF, "icd9"), "ccsr_dx_file": (HCUP_DXCCSR, "icd10"),
                 "ccsr_px_file": (HCUP_PRCCSR, "icd10")}
        for key, (what, system) in files.items():
            path = _path(f"cohort.{key}", getattr(self, key))
            if path is not None and not Path(path).is_file():
                raise ParamsError(f"params.yaml cohort.{key}: {path} not found; it should be {what}")
            if path is not None and system != self.code_system:
                raise ParamsError(f"params.yaml cohort.{key} is set but cohort.code_system is {self.code_system}: "
                                  f"it is read only under {system}; set it to null")
        if self.ccs_px_fallback not in (None, PX_FALLBACK_OF[self.code_system]):
            raise ParamsError(f"params.yaml cohort.ccs_px_fallback: {self.ccs_px_fallback} is a fallback for the other "
                              f"code system; under {self.code_system} it is {PX_FALLBACK_OF[self.code_system]} (or null)")

    def check_with(self, source: str, layout: str = "mimic3") -> None:
        """The settings that depend on ``data.source`` and the tables' layout (:attr:`DataConfig.format`)."""
        if layout == "mimic3" and self.code_system != "icd9":
            raise ParamsError(f"params.yaml cohort.code_system is {self.code_system}, but MIMIC-III tables hold ICD-9 "
                              "codes only; use icd9, or data.source: mimic4 (data.synthetic_format: mimic4)")
        if source == "synthetic" or self.ccs_px_fallback is not None:
            return
        if self.code_system == "icd9" and self.ccs_px_file is None:
            raise ParamsError(
                f"params.yaml cohort.ccs_px_file is null while data.source is {source}: the paper maps procedures to "
                f"CCS categories with {HCUP_PRREF}. Download it and set cohort.ccs_px_file to its path, or set "
                "cohort.ccs_px_fallback: icd9_two_digit to use the coarser ICD-9-CM two-digit procedure category")
        if self.code_system == "icd10" and self.ccsr_px_file is None:
            raise ParamsError(
                f"params.yaml cohort.ccsr_px_file is null while data.source is {source}: procedures map to CCSR "
                f"categories with {HCUP_PRCCSR}. Download it and set cohort.ccsr_px_file to its path, or set "
                "cohort.ccs_px_fallback: pcs_three_character to use the first three characters of the PCS code")

    @classmethod
    def from_params(cls, params: dict) -> CohortConfig:
        cfg = _from_section(cls, params, "cohort")
        data = params.get("data") if isinstance(params.get("data"), dict) else {}
        source = data.get("source", "synthetic")
        cfg.check_with(source, data.get("synthetic_format", "mimic3") if source == "synthetic" else source)
        return cfg


def _ratios(value) -> tuple[float, float, float]:
    key = "params.yaml cohort.split_ratios"
    if not isinstance(value, (list, tuple)) or len(value) != 3 or \
            any(isinstance(r, bool) or not isinstance(r, (int, float)) for r in value):
        raise ParamsError(f"{key} must be three numbers (train, dev, test), got {value!r}")
    if any(not r > 0 for r in value) or not math.isclose(sum(value), 1.0, abs_tol=1e-6):
        raise ParamsError(f"{key} must be three positive numbers summing to 1 (no split may be empty), got {list(value)}")
    return tuple(float(r) for r in value)


def limits(max_skip_share) -> dict[str, float]:
    """``cohort.max_skip_share`` checked: ``default`` and optional per-cause shares (see :data:`LOSS_CAUSES`)."""
    key = "params.yaml cohort.max_skip_share"
    if not isinstance(max_skip_share, dict) or "default" not in max_skip_share:
        raise ParamsError(f"{key} must be a mapping with a 'default' share (e.g. {{default: 0.2}}), got {max_skip_share!r}")
    unknown = sorted(set(max_skip_share) - {"default", *LOSS_CAUSES})
    if unknown:
        raise ParamsError(f"{key}: unknown cause(s) {unknown}; known causes: {sorted(LOSS_CAUSES)}")
    return {cause: _share(f"cohort.max_skip_share.{cause}", v) for cause, v in max_skip_share.items()}


@dataclass(frozen=True)
class EmbeddingsConfig:
    """The ``embeddings`` section (word2vec pre-training; see :func:`mbrnn.embeddings.pretrain`)."""

    embeddings_dir: str = "data/embeddings"
    corpus: str = "train"
    min_doc_freq: int = 3
    vector_size: int = 100
    window: int = 5
    epochs: int = 5
    sg: int = 0
    negative: int = 5
    normalise: bool = True
    unk: str = "random"
    w2v_seed: int = 0
    neighbour_terms: tuple = ()

    def __post_init__(self):
        _path("embeddings.embeddings_dir", self.embeddings_dir, optional=False)
        _choice("embeddings.corpus", self.corpus, ("train", "all"))
        _choice("embeddings.unk", self.unk, ("random", "mean", "zero"))
        _choice("embeddings.sg", self.sg, (0, 1))
        _choice("embeddings.normalise", self.normalise, (True, False))
        for key in ("min_doc_freq", "vector_size", "window", "epochs"):
            _int(f"embeddings.{key}", getattr(self, key), lo=1)
        _int("embeddings.negative", self.negative, lo=0)
        _int("embeddings.w2v_seed", self.w2v_seed, lo=0)
        if not all(isinstance(t, str) for t in self.neighbour_terms):
            raise ParamsError(f"params.yaml embeddings.neighbour_terms must be a list of words, got {self.neighbour_terms!r}")

    @classmethod
    def from_params(cls, params: dict) -> EmbeddingsConfig:
        return _from_section(cls, params, "embeddings")

    def pretrain_kwargs(self) -> dict:
        """Keyword arguments of :func:`mbrnn.embeddings.pretrain` (``w2v_seed`` is its ``seed``)."""
        kw = asdict(self)
        kw["seed"] = kw.pop("w2v_seed")
        for key in ("embeddings_dir", "neighbour_terms"):
            kw.pop(key)
        return kw


@dataclass(frozen=True)
class AnalysisConfig:
    """The ``analysis`` section; the model names it refers to are checked against ``models`` when given."""

    split: str = "test"
    bucket_edges: str | tuple = "auto"
    bucket_count: int = 5
    rare_max: str | int = "auto"
    common_min: str | int = "auto"
    threshold: float = 0.5
    reference_model: str = "mbrnn"
    bce_model: str = "mbrnn_bce"
    ablations: tuple = ()

    def __post_init__(self):
        _choice("analysis.split", self.split, ("dev", "test"))
        if self.bucket_edges != "auto":
            edges = self.bucket_edges
            if not isinstance(edges, (list, tuple)) or not edges or any(
                    isinstance(e, bool) or not isinstance(e, int) for e in edges) or list(edges) != sorted(set(edges)):
                raise ParamsError(f"params.yaml analysis.bucket_edges must be auto or increasing whole numbers, got {edges!r}")
        _int("analysis.bucket_count", self.bucket_count, lo=1)
        for key in ("rare_max", "common_min"):
            if getattr(self, key) != "auto":
                _int(f"analysis.{key} (auto or a training count)", getattr(self, key), lo=1)
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not 0 < self.threshold < 1:
            raise ParamsError(f"params.yaml analysis.threshold must lie strictly between 0 and 1, got {self.threshold!r}")

    @classmethod
    def from_params(cls, params: dict) -> AnalysisConfig:
        cfg = _from_section(cls, params, "analysis")
        models = params.get("models")
        if isinstance(models, dict):
            named = [("reference_model", cfg.reference_model), ("bce_model", cfg.bce_model),
                     *(("ablations", m) for m in cfg.ablations)]
            for key, model in named:
                if model not in models:
                    raise ParamsError(f"params.yaml analysis.{key}: {model!r} is not an entry of models "
                                      f"({', '.join(models)})")
        return cfg


def _from_section(cls, params: dict, section: str, **extra):
    values = params.get(section)
    if not isinstance(values, dict):
        raise ParamsError(f"params.yaml: section '{section}:' is missing or not a mapping")
    known = set(cls.__dataclass_fields__) - set(extra)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParamsError(f"params.yaml {section}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    missing = sorted(known - set(values))
    if missing:
        raise ParamsError(f"params.yaml {section}: missing key(s) {[f'{section}.{k}' for k in missing]}")
    return cls(**values, **extra)


# ------------------------------------------------------------------------------------------------ train
DEVICES = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PLACES = ("models_dir", "state_dir", "curves_dir")
"""``train`` keys that say where files go: they do not change a run's result."""
NOT_IN_RUN_KEY = (*PLACES, "seeds", "extend", "gpus")
"""Keys that do not define a run (where files go, which seeds, whether a shorter run may be extended, how many
GPUs share the work): left out of the resume-state key (:meth:`TrainConfig.run_key`)."""


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` section: the settings every model of the study is trained with. A key absent from
    ``params.yaml`` takes the default here (the paper's where it states one: batch 16, lr 1e-3, up to 50 epochs,
    patience 10); ``params.yaml`` sets the demo's. Nowhere else holds a default for these keys."""

    models_dir: str = "data/models"
    state_dir: str = "data/checkpoints"
    curves_dir: str = "reports/curves"
    seeds: tuple = (0,)
    extend: bool = False
    device: str = "auto"
    precision: str = "auto"
    gpus: int = 1
    batch_size: int = 16
    eval_batch_size: int | None = None  # None: batch_size
    max_tokens: int | None = None  # None: whole notes
    epochs: int = 50
    patience: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # 0: no clipping
    threshold: float = 0.5
    early_stop_metric: str = "macro_f1"
    tie_break_metric: str = "micro_auc"
    min_delta: float = 0.0
    warmup_epochs: float = 0.0

    def __post_init__(self):
        for key in PLACES:
            _path(f"train.{key}", getattr(self, key), optional=False)
        object.__setattr__(self, "seeds", _seeds(self.seeds))
        _bool("train.extend", self.extend)
        if not isinstance(self.device, str) or not DEVICES.fullmatch(self.device):
            raise ParamsError(f"params.yaml train.device must be auto, cpu, cuda, cuda:<n> or mps, got {self.device!r}")
        _choice("train.precision", self.precision, PRECISIONS)
        for key in ("gpus", "batch_size", "epochs", "patience"):
            _int(f"train.{key}", getattr(self, key), lo=1)
        for key in ("eval_batch_size", "max_tokens"):
            if getattr(self, key) is not None:
                _int(f"train.{key} (or null)", getattr(self, key), lo=1)
        for key, hi in (("lr", None), ("weight_decay", None), ("grad_clip", None), ("threshold", 1),
                        ("min_delta", None), ("warmup_epochs", None)):
            object.__setattr__(self, key, _number(f"train.{key}", getattr(self, key), hi, positive=key == "lr"))
        for key in ("early_stop_metric", "tie_break_metric"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ParamsError(f"params.yaml train.{key} must be the name of a metric, got {getattr(self, key)!r}")

    @classmethod
    def from_params(cls, params: dict) -> TrainConfig:
        """``params["train"]`` validated once; an unknown key is an error, an absent one takes its default."""
        values = params.get("train")
        if not isinstance(values, dict):
            raise ParamsError("params.yaml: section 'train:' is missing or not a mapping")
        if "seed" in values:
            raise ParamsError("params.yaml train.seed was replaced by train.seeds (a list, the first one the "
                              "primary seed); fix params.yaml or the train config")
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise ParamsError(f"params.yaml train: unknown key(s) {unknown}; known keys: {sorted(cls.keys())}")
        return cls(**values)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys of the ``train`` section, in declaration order."""
        return tuple(cls.__dataclass_fields__)

    @property
    def eval_batch(self) -> int:
        """Batch size of dev/test prediction."""
        return self.batch_size if self.eval_batch_size is None else self.eval_batch_size

    def record(self) -> dict:
        """The settings a metrics file records as ``params.train``: every key that can change a result."""
        kept = {k: v for k, v in asdict(self).items() if k not in (*PLACES, "gpus")}
        return kept | {"seeds": list(self.seeds)}

    def run_key(self) -> dict:
        """The settings that define one seed's run (the resume state is keyed by them)."""
        return {k: v for k, v in asdict(self).items() if k not in NOT_IN_RUN_KEY}


def _bool(key: str, value) -> bool:
    if not isinstance(value, bool):
        raise ParamsError(f"params.yaml {key} must be true or false, got {value!r}")
    return value


def _number(key: str, value, hi: float | None = None, positive: bool = False) -> float:
    """A finite number >= 0 (> 0 when ``positive``, <= ``hi`` when given), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0) or (hi is not None and value > hi):
        bounds = "> 0" if positive else ">= 0" if hi is None else f"between 0 and {hi}"
        raise ParamsError(f"params.yaml {key} must be a number {bounds}, got {value!r}")
    return float(value)


def _seeds(value) -> tuple[int, ...]:
    if (not isinstance(value, (list, tuple)) or not value or len(set(value)) != len(value)
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in value)):
        raise ParamsError(f"params.yaml train.seeds must be a non-empty list of distinct integers >= 0 "
                          f"(the first one the primary seed), got {value!r}")
    return tuple(value)
