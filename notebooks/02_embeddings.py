# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Word embeddings
#
# As in the paper, word vectors are pre-trained with word2vec (CBOW, 100 dimensions, window 5, 5 epochs) on the
# normalised discharge summaries. By default only the **training** split is used; `corpus: all` reproduces the
# paper's choice of all summaries, which lets dev and test text shape the embeddings. The vocabulary keeps tokens
# found in at least 3 training documents (CAML's rule); row 0 is padding, row 1 the unknown token, and rows are
# L2-normalised as in the reference code.

# %% tags=["parameters"]
params = None  # this stage's keys of params.yaml (dvc.yaml `params:`), injected by DVC; None: read from params.yaml

# %%
import pandas as pd

from mbrnn import embeddings, io, plots
from mbrnn.config import EmbeddingsConfig
from mbrnn.runner import goto_project_root, stage_params

goto_project_root()
params = stage_params("embeddings", params)
cfg, reports = EmbeddingsConfig.from_params(params), params["reports"]
summary = embeddings.pretrain(params["cohort"]["cohort_dir"], cfg.embeddings_dir, **cfg.pretrain_kwargs(), progress=False)
io.write_json(f"{reports['metrics_dir']}/embeddings.json", summary)
pd.Series(summary, name="value").to_frame()

# %% [markdown]
# ## Nearest neighbours of a few clinical terms
# Cosine similarity in the word2vec space: related findings, abbreviations and treatments should sit close.

# %%
model = embeddings.load_word2vec(cfg.embeddings_dir)
neighbours = embeddings.nearest_neighbours(model, cfg.neighbour_terms, topn=6)
neighbours.pivot(index="rank", columns="term", values="neighbour")

# %% [markdown]
# ## A 2-D view
# The terms above and their neighbours, projected with PCA: clusters of related words show that the embedding
# has picked up the co-occurrence structure the coding models build on.

# %%
vocab, matrix = embeddings.load(cfg.embeddings_dir)
xy = embeddings.project_2d(matrix, vocab, list(dict.fromkeys([*neighbours["term"], *neighbours["neighbour"]])))
fig = plots.plot_embedding_projection(xy, highlight=cfg.neighbour_terms)
plots.show(plots.save_figure(fig, reports["figures_dir"], "embedding_projection")["png"], plots.CAPTIONS["embedding_projection"])
