"""An offline page for ``dvc plots show`` and ``dvc plots diff`` (plumbing, not part of the data chain).

DVC writes its plots page from an HTML template; its default one loads Vega, Vega-Lite and Vega-Embed from a
CDN, so the page is blank without network. DVC's documented option ``plots.html_template`` (``.dvc/config``,
or ``--html-template``) names another template: this module writes one, ``.dvc/plots/offline.html`` (not in
git), with the three libraries inlined from the ``vl-convert-python`` package (``vl_convert.javascript_bundle``),
so the page references no URL to load. ``scripts/setup.sh`` runs it after installing; run it by hand after a
conda install:

    python -m mbrnn.dvc_plots            # writes the templates unless they are already up to date

It also writes the Vega-Lite template ``.dvc/plots/models.json`` (in git; dvc.yaml's plots use it): one colour
per model, the study's palette (``plots.MODEL_COLORS``), and one dash per revision for ``dvc plots diff``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import io

TEMPLATE = Path(".dvc/plots/offline.html")  # .dvc/config: [plots] html_template = plots/offline.html
MODELS_TEMPLATE = Path(".dvc/plots/models.json")  # dvc.yaml plots: template: models
PLACEHOLDER = "{plot_divs}"  # where DVC puts one <div> per plot, each calling vegaEmbed
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>mbrnn: DVC plots</title>
    <!-- vega __VEGA__, vega-lite __VEGALITE__, vega-embed __EMBED__, inlined from vl-convert-python __VLC__ -->
    <script type="text/javascript">__BUNDLE__</script>
    <style>
        body { font-family: sans-serif; }
        body > div { display: inline-block; vertical-align: top; margin: 10px; }
    </style>
</head>
<body>
    <h1>Training curves of every model</h1>
    <p>One chart per metric, every model on shared axes; <code>dvc plots diff</code> adds one line per revision.</p>
    {plot_divs}
</body>
</html>
"""


def vega_lite_version(available) -> str:
    """The newest Vega-Lite 5 the bundle offers: DVC's templates are Vega-Lite 5 specifications."""
    fives = [v for v in available if v.split(".")[0] == "5"]
    if not fives:
        raise RuntimeError(f"vl-convert-python offers Vega-Lite {list(available)}, none of version 5 that DVC's "
                           f"templates are written for; install vl-convert-python>=1.3,<2")
    return max(fives, key=lambda v: tuple(int(p) for p in v.split(".")))


def page_template() -> str:
    """DVC's HTML template with Vega, Vega-Lite and Vega-Embed inlined (about 0.9 MB)."""
    try:
        import vl_convert as vlc
    except ImportError as e:
        raise RuntimeError("vl-convert-python is not installed; `pip install -e .` (pyproject.toml lists it)") from e
    vl = vega_lite_version(vlc.get_vegalite_versions())
    bundle = vlc.javascript_bundle(vl_version=vl)
    if "</script" in bundle.lower():  # would end the inline <script> early
        raise RuntimeError("the Vega bundle contains '</script'; it cannot be inlined")
    from importlib.metadata import version

    fields = {"__VEGA__": vlc.get_vega_version(), "__VEGALITE__": vl, "__EMBED__": vlc.get_vega_embed_version(),
              "__VLC__": version("vl-convert-python")}
    head = PAGE
    for key, value in fields.items():
        head = head.replace(key, value)
    return head.replace("__BUNDLE__", bundle)


def models_template() -> str:
    """Vega-Lite template for DVC (anchors <DVC_METRIC_*>): one line per curves file, coloured by model as in
    every figure of the study, one dash per revision; the y axis starts at 0 so that charts read alike."""
    from .plots import MODEL_COLORS

    x, y = "<DVC_METRIC_X>", "<DVC_METRIC_Y>"
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": "<DVC_METRIC_DATA>"},
        "title": "<DVC_METRIC_TITLE>", "width": 360, "height": 240,
        "transform": [{"calculate": "replace(datum.filename, /[.]csv$/, '')", "as": "model"}],
        "mark": {"type": "line", "strokeWidth": 1.5, "tooltip": True},
        "encoding": {
            "x": {"field": x, "type": "quantitative", "title": "<DVC_METRIC_X_LABEL>", "axis": {"tickMinStep": 1}},
            "y": {"field": y, "type": "quantitative", "title": "<DVC_METRIC_Y_LABEL>", "scale": {"zero": True}},
            "color": {"field": "model", "type": "nominal", "title": "model",
                      "scale": {"domain": list(MODEL_COLORS), "range": list(MODEL_COLORS.values())}},
            "strokeDash": {"field": "rev", "type": "nominal", "title": "revision"},
        },
    }
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def _write_if_changed(path: Path, text: str, force: bool) -> bool:
    if not force and path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    io.write_text(path, text)
    return True


def write_template(path: str | Path = TEMPLATE, force: bool = False) -> tuple[Path, bool]:
    """Write the offline page template to ``path`` and the models template beside it, each unless the same bytes
    are there; return (page template path, whether anything was written)."""
    path = Path(path)
    wrote_page = _write_if_changed(path, page_template(), force)
    wrote_models = _write_if_changed(path.with_name(MODELS_TEMPLATE.name), models_template(), force)
    return path, wrote_page or wrote_models


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mbrnn.dvc_plots", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help=f"template path (default: {TEMPLATE} of the project)")
    args = ap.parse_args(argv)
    if args.out:
        out = Path(args.out)
    else:
        from .runner import project_root

        out = project_root() / TEMPLATE
    path, written = write_template(out)
    print(f"{'wrote' if written else 'up to date:'} {path} (offline template for `dvc plots show`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
