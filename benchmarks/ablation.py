"""What each of BSARec's speed optimisations gives: the time of one training step (forward, backward, Adam)
on LastFM batches for the shipped model, then with the optimisations undone one after another down to the
straightforward reference (tests/reference_bsarec.py), and for RecBole's SASRec, all in one process.

Every variant holds the same weights and trains on the same batches; only the code path differs.
Usage: python benchmarks/ablation.py [--device cuda] [--steps 8] [--rounds 4] [--threads N] [--shared DIR]
"""

import argparse
import copy
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's package, and the tests' reference model

from recbole.model.layers import FeedForward, MultiHeadAttention  # noqa: E402
from reference_bsarec import ReferenceBSARec  # noqa: E402

from recbole_bsarec.data.paper import convert  # noqa: E402
from recbole_bsarec.model.bsarec import keep_prefix, right_align  # noqa: E402
from recbole_bsarec.model.layers import Dropout, SelfAttention  # noqa: E402

SETTINGS = {"MAX_ITEM_LIST_LENGTH": 50, "hidden_size": 64, "inner_size": 256, "n_layers": 2, "n_heads": 2}
SHARED = ROOT.parent / "shared" / "data" / "paper"


def torch_dropout(model):
    """Every Dropout back to torch's own (bernoulli_ masks on the CPU)."""
    for module in model.modules():
        if type(module) is Dropout:
            module.__class__ = nn.Dropout
    return model


def fused_attention_always(model):
    """Attention through scaled_dot_product_attention also when training on the CPU with dropout."""

    def attend(self, query, key, value, attention_mask):
        dropout_p = self.attn_dropout.p if self.training else 0.0
        return nn.functional.scaled_dot_product_attention(query, key, value, attention_mask, dropout_p)

    for module in model.modules():
        if isinstance(module, SelfAttention):
            module.attend = types.MethodType(attend, module)
    return model


def every_position(model):
    """The last block computes every position too, and the prediction is read off its output (left padding,
    both branches, as the defaults)."""

    def forward(self, item_seq, item_seq_len):
        item_seq = right_align(keep_prefix(item_seq, item_seq_len), item_seq_len)
        positions = torch.arange(item_seq.size(1), device=item_seq.device)
        hidden = self.dropout(self.LayerNorm(self.item_embedding(item_seq) + self.position_embedding(positions)))
        mask = self.get_attention_mask(item_seq)
        for block in self.encoder.layer:
            attended = block.attention_layer(hidden, mask)
            hidden = block.feed_forward(torch.lerp(attended, block.filter_layer(hidden), block.alpha))
        return hidden[:, -1]

    model.forward = types.MethodType(forward, model)
    return model


def recbole_feed_forward(model):
    """RecBole's FeedForward (GELU as a chain of elementwise ops) in every block."""
    for block in model.encoder.layer:
        ours = block.feed_forward
        block.feed_forward = FeedForward(
            ours.dense_1.in_features, ours.dense_1.out_features, ours.dropout.p, "gelu", ours.LayerNorm.eps
        ).to(ours.dense_1.weight.device)
        block.feed_forward.load_state_dict(ours.state_dict())
    return model


def recbole_attention(model):
    """RecBole's MultiHeadAttention (three projections, explicit softmax and dropout) in every block."""
    for block in model.encoder.layer:
        ours = block.attention_layer
        hidden = ours.dense.in_features
        block.attention_layer = MultiHeadAttention(
            ours.num_attention_heads, hidden, ours.out_dropout.p, ours.attn_dropout.p, ours.LayerNorm.eps
        ).to(ours.dense.weight.device)
        block.attention_layer.load_state_dict(ours.state_dict())
    return model


def reference(model):
    """The straightforward model: rfft/irfft filter, RecBole's layers, everything at every position."""
    ref = ReferenceBSARec(model).to(model.item_embedding.weight.device)
    seq, length, target = model.ITEM_SEQ, model.ITEM_SEQ_LEN, model.POS_ITEM_ID
    ref.calculate_loss_on = lambda batch: ref.calculate_loss(batch[seq], batch[length], batch[target])
    return ref


# cumulative: each row undoes one more optimisation than the row above
UNDO = [
    ("shipped BSARec", None),
    ("- explicit attention when training on CPU (SDPA, its own dropout)", fused_attention_always),
    ("- CPU dropout masks from rand (torch's bernoulli_)", torch_dropout),
    ("- fused GELU (RecBole's FeedForward)", recbole_feed_forward),
    ("- last block at the predicted position only", every_position),
    ("- fused QKV + SDPA (RecBole's MultiHeadAttention)", recbole_attention),
    ("- P_c matmul and lerp (reference: rfft/irfft)", reference),
]


def prepare(device, threads, shared=SHARED):
    """LastFM's training loader, a BSARec and a SASRec (built as the package builds them)."""
    from recbole_bsarec.pipeline import build_config, build_model
    from recbole_bsarec.pipeline import prepare as prepare_data

    if threads:
        torch.set_num_threads(threads)
    data_path = tempfile.mkdtemp(prefix="bsarec-ablation-")
    convert(Path(shared) / "LastFM.txt", data_path, "LastFM")  # not "lastfm": its yaml would change BSARec's settings
    models = {}
    for name in ("BSARec", "SASRec"):
        overrides = {**SETTINGS, "data_path": data_path, "use_gpu": device == "cuda", "state": "WARNING"}
        config = build_config(name, "LastFM", None, overrides)
        _, train, _, _ = prepare_data(config)
        models[name] = build_model(config, train)
    return models, train, config["device"]


class Stepper:
    """One variant's training step (zero_grad, loss, backward, Adam) and the seconds each took."""

    def __init__(self, model):
        self.model = model.train()
        self.loss_on = getattr(model, "calculate_loss_on", None) or model.calculate_loss
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.seconds = []

    def step(self, batch, device, record=True):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        self.optimizer.zero_grad()
        self.loss_on(batch).backward()
        self.optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if record:
            self.seconds.append(time.perf_counter() - start)


def variants(models):
    """(label, model) for the shipped BSARec, each cumulative undo (on its own copy), and SASRec."""
    built, model = [], models["BSARec"]
    for label, undo in UNDO:
        model = undo(copy.deepcopy(model)) if undo else model
        built.append((label, model))
    return built + [("RecBole SASRec", models["SASRec"])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=8, help="batches per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds over all variants (interleaved)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--shared", default=str(SHARED), help="folder holding the paper's LastFM.txt")
    args = parser.parse_args()
    models, train, device = prepare(args.device, args.threads, args.shared)
    batches = [batch.to(device) for batch, _ in zip(train, range(args.steps), strict=False)]
    steppers = [(label, Stepper(model)) for label, model in variants(models)]
    for _, stepper in steppers:  # warm-up
        for batch in batches[:2]:
            stepper.step(batch, device, record=False)
    for _ in range(args.rounds):  # interleaved, so that a slow spell of the machine hits every variant alike
        for _, stepper in steppers:
            for batch in batches:
                stepper.step(batch, device)
    rows = [(label, statistics.median(stepper.seconds)) for label, stepper in steppers]
    shipped, sasrec = rows[0][1], rows[-1][1]
    print(
        f"one training step, LastFM batches of 256, N=50, D=64 ({device}, {torch.get_num_threads()} threads); "
        f"median of {args.rounds} x {args.steps} steps, variants interleaved"
    )
    print("| variant | ms/step | vs shipped | vs SASRec |\n|---|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1e3:.1f} | {seconds / shipped:.2f} | {seconds / sasrec:.2f} |")


if __name__ == "__main__":
    main()
