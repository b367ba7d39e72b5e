"""The study's command line (plumbing between DVC and the notebooks, not part of the data chain).

``python -m mbrnn stage NAME``
    executes stage NAME of ``dvc.yaml`` (e.g. ``cohort``, ``train@mbrnn``): its notebook with the keys of
    ``params.yaml`` the stage declares (see :mod:`mbrnn.runner`). With ``train.gpus: N`` > 1 a train stage runs as N
    DistributedDataParallel processes under ``torch.distributed.run`` (torchrun), one per GPU.
``python -m mbrnn prepare-data [OVERLAY]``
    makes ``data/raw`` ready for ``dvc repro`` (see :mod:`mbrnn.prepare`); with an overlay, the raw folder that
    overlay's experiment reads (e.g. ``configs/mimic4-demo.yaml``: the MIMIC-IV demo in ``data/raw-mimic4``).
``python -m mbrnn exp OVERLAY [-n NAME] [--dry-run] [-- DVC_ARGS...]``
    runs a parameter overlay (``configs/*.yaml``, see :mod:`mbrnn.overlays`) as a DVC experiment: prints the
    ``dvc exp run -S key=value ...`` command it stands for and runs it (``--dry-run``: print only).

``params.yaml`` is checked first (YAML syntax, every key's value): an error names the key and nothing runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import overlays, prepare, raw, runner
from .config import CohortConfig, DataConfig, ParamsError, load_params


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m mbrnn", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stage", help="execute one stage of dvc.yaml (its notebook, with its params)")
    s.add_argument("name", help="stage name, e.g. cohort or train@mbrnn")
    p = sub.add_parser("prepare-data", help="generate or check data/raw according to params.yaml")
    p.add_argument("overlay", nargs="?", help="prepare for this overlay instead (e.g. configs/mimic4-demo.yaml)")
    e = sub.add_parser("exp", help="run a params overlay (configs/*.yaml) as `dvc exp run -S ...`")
    e.add_argument("overlay", help="overlay file, e.g. configs/paper-full.yaml")
    e.add_argument("-n", "--name", help="experiment name (dvc exp run -n)")
    e.add_argument("--dry-run", action="store_true", help="print the dvc command without running it")
    return ap


def _run_stage(name: str, params: dict, root) -> int:
    import papermill as pm

    st = runner.stage(name, params, root)
    if st.notebook == "01_cohort":
        CohortConfig.from_params(params)
    n = runner.gpus(st, params)
    if n > 1 and "RANK" not in os.environ:  # relaunch as n processes; each re-enters here under torchrun
        argv = runner.torchrun_argv(st, n, sys.executable)
        print("running " + " ".join(argv[1:]), flush=True)
        os.execv(sys.executable, argv)
    try:
        out = runner.run_stage(name, params, root)
    except pm.PapermillExecutionError as e:
        print(f"\nstage {name} ({st.notebook}) failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
              f"{''.join(e.traceback)}\nthe failed notebook is in {os.path.dirname(st.out)}/", file=sys.stderr)
        return 1
    print(f"executed {st.notebook} -> {out.relative_to(root) if out.is_relative_to(root) else out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    argv, extra = argv[:cut], argv[cut + 1:]  # after --: more `dvc exp run` arguments, e.g. -S key=value
    ap = _parser()
    args = ap.parse_args(argv)
    if extra and args.cmd != "exp":
        ap.error("arguments after -- are for `exp` only")
    root = runner.project_root()
    try:  # params.yaml checked before anything runs; errors name the key, the file, the column, the row
        params = load_params(root / "params.yaml")
        DataConfig.from_params(params)
        if args.cmd == "exp":
            return overlays.run_experiment(args.overlay, params, args.name, args.dry_run, root, extra)
        if args.cmd == "prepare-data":
            if args.overlay:
                params = overlays.apply(params, overlays.load(args.overlay), args.overlay)
            print(prepare.prepare_data(params, root))
            return 0
        return _run_stage(args.name, params, root)
    except (ParamsError, raw.CohortInputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
