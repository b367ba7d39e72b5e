"""The shared model layers: fp32 recurrences under autocast, fused vs exact BiRNN, chunked label attention."""

import numpy as np
import pytest
import torch

from mbrnn.models import build_model
from mbrnn.models.laat import LAAT
from mbrnn.models import layers
from mbrnn.models.layers import BiRNN, LabelAttention, prefix_mask

torch.set_num_threads(1)


def _padded(lengths, L, d, seed=0):
    """(B, L, d) inputs with garbage on the pads (so a leak would show), and the lengths."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(len(lengths), L, d, generator=g), torch.tensor(lengths)


def _old_birnn(rnn, x, lengths):
    """The BiRNN as it was before fused/precision options: two unidirectional RNNs, reversal within length."""
    from mbrnn.models.layers import reverse_within_length

    h_f, _ = rnn.fwd(x)
    h_b, _ = rnn.bwd(reverse_within_length(x, lengths))
    h = torch.cat([h_f, reverse_within_length(h_b, lengths)], dim=-1)
    return h * prefix_mask(lengths, x.size(1))[..., None]


@pytest.mark.parametrize("impl", ["exact", "fused"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_recurrence_runs_in_fp32_under_bf16_autocast(cell, impl):
    """Outputs and gradients under CPU bf16 autocast are fp32 and equal the fp32 run bit for bit."""
    torch.manual_seed(0)
    rnn = BiRNN(cell, 6, 5, impl=impl)
    x, lengths = _padded([9, 4, 1], 9, 6)
    grads = []
    for amp in (False, True):
        xi = x.clone().requires_grad_(True)
        rnn.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            inp = xi.to(torch.bfloat16) if amp else xi  # what an autocast layer before it would hand over
            h = rnn(inp, lengths)
            assert h.dtype == torch.float32
        h.square().sum().backward()
        grads.append((h.detach(), xi.grad, [p.grad.clone() for p in rnn.parameters()]))
    (h32, gx32, gp32), (hamp, gxamp, gpamp) = grads
    # the bf16 input is the only rounding: compare against fp32 on the same rounded input
    rnn.zero_grad()
    xr = x.to(torch.bfloat16).float().requires_grad_(True)
    h_ref = rnn(xr, lengths)
    h_ref.square().sum().backward()
    assert torch.equal(hamp, h_ref.detach())
    assert gxamp.dtype == torch.float32 and all(g.dtype == torch.float32 for g in gpamp)
    assert all(torch.equal(a, p.grad) for a, p in zip(gpamp, rnn.parameters()))
    torch.testing.assert_close(hamp, h32, atol=2e-2, rtol=0)  # and it is near the unrounded run


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("lengths", [[7, 4, 1], [2, 7, 5, 7], [7, 7]])
def test_fused_equals_exact_on_padded_batches(cell, lengths):
    """Packed bidirectional kernel == within-length reversal: outputs, input and weight gradients."""
    torch.manual_seed(0)
    rnn = BiRNN(cell, 5, 4)
    x, lens = _padded(lengths, 7, 5, seed=len(lengths))
    results = {}
    for impl in ("exact", "fused"):
        rnn.impl = impl
        rnn.zero_grad()
        xi = x.clone().requires_grad_(True)
        h = rnn(xi, lens)
        (h * torch.linspace(-1, 1, h.numel()).view_as(h)).sum().backward()
        results[impl] = (h.detach(), xi.grad, {n: p.grad.clone() for n, p in rnn.named_parameters()})
    (he, gxe, gpe), (hf, gxf, gpf) = results["exact"], results["fused"]
    torch.testing.assert_close(hf, he, atol=1e-6, rtol=1e-5)
    pads = ~prefix_mask(lens, 7)
    assert torch.all(hf[pads] == 0) and torch.all(gxf[pads] == 0)  # pads neither produce nor receive anything
    torch.testing.assert_close(gxf, gxe, atol=1e-6, rtol=1e-5)
    for n in gpe:
        torch.testing.assert_close(gpf[n], gpe[n], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_fused_equals_exact_without_lengths(cell):
    """Without lengths (the reference behaviour, mask_padding=False) both paths read the pads the same way."""
    torch.manual_seed(0)
    rnn = BiRNN(cell, 5, 4)
    x, _ = _padded([6, 6], 6, 5)
    out = {}
    for impl in ("exact", "fused"):
        rnn.impl = impl
        out[impl] = rnn(x)
    torch.testing.assert_close(out["fused"], out["exact"], atol=1e-6, rtol=1e-5)


def test_auto_is_exact_on_cpu_and_bitwise_the_previous_path():
    """Default CPU behaviour is unchanged: auto resolves to exact, equal bit for bit to the old computation."""
    torch.manual_seed(0)
    rnn = BiRNN("gru", 5, 4)
    assert rnn.impl == "auto" and rnn.resolve_impl(torch.device("cpu")) == "exact"
    assert rnn.resolve_impl(torch.device("cuda")) == "fused"
    x, lens = _padded([7, 3], 7, 5)
    assert torch.equal(rnn(x, lens), _old_birnn(rnn, x, lens))
    assert [n for n, _ in rnn.named_parameters()][:2] == ["fwd.weight_ih_l0", "fwd.weight_hh_l0"]  # same keys


def test_rnn_impl_is_a_model_option_and_is_checked():
    emb = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    for arch in ("mbrnn", "laat"):
        model = build_model({"arch": arch, "hidden": 4, "rnn_impl": "fused"}, emb, 5, 3)
        rnn = model.gru if arch == "mbrnn" else model.lstm
        assert rnn.resolve_impl(torch.device("cpu")) == "fused"
    with pytest.raises(ValueError, match="rnn_impl must be one of"):
        build_model({"arch": "mbrnn", "hidden": 4, "rnn_impl": "cudnn"}, emb, 5, 3)


def _attention_grads(attn, H, K, mask, w):
    attn.zero_grad()
    H, K = H.clone().requires_grad_(True), K.clone().requires_grad_(True)
    logits = attn(H, mask, keys=K)
    (logits * w).sum().backward()
    return logits.detach(), H.grad, K.grad, [p.grad.clone() for p in attn.parameters()]


@pytest.mark.parametrize("max_cells", [1, 3 * 9 * 4, 3 * 9 * 7])
def test_chunked_attention_equals_whole(max_cells):
    """Chunks of 1, 4 and 7 labels (13 labels: uneven last chunk) give the unchunked logits and gradients."""
    torch.manual_seed(0)
    attn = LabelAttention(6, 13, d_query=5)
    H, K = torch.randn(3, 9, 6), torch.randn(3, 9, 5)
    mask = prefix_mask(torch.tensor([9, 5, 1]), 9)
    w = torch.randn(3, 13)
    attn.max_cells = None
    whole = _attention_grads(attn, H, K, mask, w)
    attn.max_cells = max_cells
    chunked = _attention_grads(attn, H, K, mask, w)
    for a, b in zip(whole[:3], chunked[:3]):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)
    for a, b in zip(whole[3], chunked[3]):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)
    with torch.no_grad():  # evaluation: chunks without checkpointing
        torch.testing.assert_close(attn(H, mask, keys=K), whole[0], atol=1e-6, rtol=1e-5)


def test_attention_below_the_budget_is_one_pass():
    """The demo's shape is far below the budget: the default path is the unchunked one, bit for bit."""
    torch.manual_seed(0)
    attn = LabelAttention(8, 50)
    H = torch.randn(16, 600, 8)
    mask = prefix_mask(torch.randint(1, 601, (16,)), 600)
    out = attn(H, mask)
    attn.max_cells = None
    assert torch.equal(out, attn(H, mask))


def test_laat_loads_a_checkpoint_from_before_the_shared_attention():
    emb = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    torch.manual_seed(0)
    model = LAAT(emb, 5, hidden=4, d_a=3)
    old = {k.replace("attn.W", "V").replace("attn.", ""): v.clone() + 1 for k, v in model.state_dict().items()}
    assert {"U", "V", "b"} <= set(old)
    fresh = LAAT(emb, 5, hidden=4, d_a=3)
    fresh.load_state_dict(old)
    assert torch.equal(fresh.attn.W, old["V"]) and torch.equal(fresh.attn.U, old["U"])


def _throughput_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "train_throughput.py"
    spec = importlib.util.spec_from_file_location("train_throughput", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_reference_computes_unmasked_mbrnn():
    """The benchmark's reference comparator is MBRNN with mask_padding=False (same weights -> same logits)."""
    tt = _throughput_module()
    W = np.random.default_rng(0).standard_normal((tt.VOCAB, 100)).astype(np.float32)
    torch.manual_seed(0)
    ours = build_model({"arch": "mbrnn", "hidden": 6, "mask_padding": False}, W, 5, 3).eval()
    ref = tt.reference_mbrnn(W, 5, 3, 6).eval()
    with torch.no_grad():
        for suffix, rnn in (("", ours.gru.fwd), ("_reverse", ours.gru.bwd)):
            for name, p in rnn.named_parameters():
                getattr(ref.gru, name + suffix).copy_(p)
        ref.ram.load_state_dict(ours.ram.state_dict())
        for head, mine in ((ref.icd, ours.icd_head), (ref.ccs, ours.ccs_head)):
            head.U.weight.copy_(mine.U), head.final.weight.copy_(mine.W), head.final.bias.copy_(mine.b)
    tokens = torch.randint(2, tt.VOCAB, (2, 9))
    mask = prefix_mask(torch.tensor([9, 4]), 9)
    a, b = ours(tokens, mask), ref(tokens, mask)
    for k in ("icd", "ccs"):
        torch.testing.assert_close(b[k], a[k], atol=1e-5, rtol=1e-5)


def test_benchmark_epoch_plan_uses_mimic_sizes():
    """Real-length mode: one epoch at MIMIC-III's split sizes through the study's length-bucketed loader."""
    tt = _throughput_module()
    lengths = {"train": np.array([5, 50, 500, 4000]), "dev": np.array([7, 70])}
    plan = tt.epoch_plan(lengths, "full", steps=3, eval_steps=2)
    assert plan["train"]["n_batches"] == -(-47_719 // 16) and plan["eval"]["n_batches"] == -(-1_631 // 32)
    assert len(plan["train"]["lengths"]) == 3 and len(plan["eval"]["lengths"]) == 2
    for b in plan["train"]["lengths"]:  # bucketed: lengths drawn from the cohort's own values
        assert set(b) <= {5, 50, 500, 4000} and len(b) <= 16
    assert plan["train"]["epoch_cells"] >= 47_719 * 5


def test_trainable_embeddings_leave_the_callers_matrix_alone():
    """Models built from one word2vec matrix (side-by-side training) must not share and rewrite it."""
    W = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    before = W.copy()
    emb = layers.pretrained_embedding(W, freeze=False)
    with torch.no_grad():
        emb.weight.add_(1.0)
    assert np.array_equal(W, before)
    assert torch.allclose(emb.weight, torch.from_numpy(before) + 1.0)
