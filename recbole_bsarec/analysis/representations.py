"""What the layers compute, from checkpoints on their test users: oversmoothing (paper Fig. 3), the learned
beta (Fig. 7a) and how much of each frequency the attention and the frequency branch pass (Fig. 2b).

Works for BSARec, its ablations and RecBole's SASRec. Only the real (non-padding) positions of each user's
test window count; the numbers are pure functions of tensors, the commands only load, loop and plot.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from recbole.model.sequential_recommender.sasrec import SASRec

from recbole_bsarec.analysis.load import check_distinct, checkpoint_labels
from recbole_bsarec.analysis.output import check_folder_option, figure, outputs, save_figure
from recbole_bsarec.atomic import write_csv
from recbole_bsarec.errors import UsageError
from recbole_bsarec.model.bsarec import BSARec, keep_prefix, right_align
from recbole_bsarec.pipeline import load_run

# --- the numbers behind the figures


def normalised_singular_values(x):
    """Singular values of ``x`` (positions x D) over the largest: the faster they fall, the closer the
    sequence's representations are to rank one (oversmoothing)."""
    values = torch.linalg.svdvals(x.double())
    return values / values[0]


def mean_cosine_similarity(x):
    """Mean cosine similarity over the pairs of distinct rows of ``x`` (positions x D, two rows or more):
    1 when every position points the same way (oversmoothed), 0 when they are orthogonal."""
    unit = F.normalize(x.double(), dim=-1)
    similarity = unit @ unit.T
    n = similarity.size(0)
    return ((similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))).item()


def frequencies(window):
    """Normalised frequencies k / window (cycles per position) of the rfft bins k = 0 .. window // 2."""
    return torch.arange(window // 2 + 1, dtype=torch.float64) / window


def spectral_response(attention, window=None):
    """Gain of the linear map ``attention`` (..., L, L) on each rfft bin k of a window of ``window`` positions
    (default L): ||A v_k|| / ||v_k|| with v_k[n] = exp(2 pi i k n / window), n < L. For window = L the v_k are
    the Fourier basis vectors, so this is how much of bin k the map F A F^-1 keeps: 1 on every bin for the
    identity, 1 on the DC bin and 0 elsewhere for uniform averaging. Returns (..., window // 2 + 1)."""
    length = attention.size(-1)
    positions = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    basis = torch.exp(2j * math.pi * positions * frequencies(window or length))
    return torch.linalg.vector_norm(attention.to(torch.complex128) @ basis, dim=-2) / math.sqrt(length)


def filter_response(filter_layer):
    """Gain of the frequency branch beta * X + (1 - beta) * P_c X on the window's rfft bins, from the block's
    own P_c: 1 on the c // 2 + 1 bins P_c keeps, beta on the others (mean over dimensions when per dimension)."""
    low_pass = filter_layer.low_pass_matrix
    mean_beta = filter_layer.beta.mean().double()
    return spectral_response(torch.lerp(low_pass, torch.eye(low_pass.size(0), dtype=low_pass.dtype), mean_beta))


def betas(model):
    """The learned beta of each block, shape (D,) or (1,) for scalar beta; empty without a frequency branch."""
    if not isinstance(model, BSARec):
        return []
    return [block.filter_layer.beta.detach() for block in model.encoder.layer if block.filter_layer is not None]


# --- what the encoder computes for test users


@dataclass
class Encoded:
    """Test users' windows as the model arranges them (0 = padding) and every layer's output on them."""

    item_seq: torch.Tensor
    layers: list  # (B, N, D) each: the input embedding after LayerNorm, then each block's output

    @property
    def real(self):
        """(B, N): True at the real, non-padding positions."""
        return self.item_seq != 0


def blocks(model):
    """The encoder blocks of a BSARec-family model or of RecBole's SASRec."""
    return list(model.encoder.layer if isinstance(model, BSARec) else model.trm_encoder.layer)


def attention_of(block):
    """A block's self-attention module, or None (BSARecFilterOnly)."""
    return block.attention_layer if hasattr(block, "attention_layer") else block.multi_head_attention


def user_sequences(run, users):
    """Item sequences and lengths of the first ``users`` test users in the test loader's order, skipping users
    with one item (no pair of positions to compare)."""
    model = run.model
    sequences, lengths = [], []
    for interaction, *_ in run.test_data:
        keep = interaction[model.ITEM_SEQ_LEN] >= 2
        sequences.append(interaction[model.ITEM_SEQ][keep])
        lengths.append(interaction[model.ITEM_SEQ_LEN][keep])
        if sum(map(len, lengths)) >= users:
            break
    return torch.cat(sequences)[:users], torch.cat(lengths)[:users]


@torch.no_grad()
def layer_outputs(run, users):
    """Every layer's output at every position of the first ``users`` test users' windows, computed as the model's
    forward computes it (BSARec: prefix kept and items right-aligned when padding_side is left; SASRec: items
    at the start), except that every block computes all positions, the last one included."""
    model = run.model
    item_seq, item_seq_len = user_sequences(run, users)
    if isinstance(model, BSARec):
        item_seq = keep_prefix(item_seq, item_seq_len)
        if model.padding_side == "left":
            item_seq = right_align(item_seq, item_seq_len)
    positions = torch.arange(item_seq.size(1), device=item_seq.device)
    hidden = model.item_embedding(item_seq) + model.position_embedding(positions).unsqueeze(0)
    hidden = model.dropout(model.LayerNorm(hidden))
    attention_mask = model.get_attention_mask(item_seq)
    layers = [hidden]
    for block in blocks(model):
        layers.append(block(layers[-1], attention_mask))
    return Encoded(item_seq, layers)


def attention_probabilities(attention, hidden_states, attention_mask):
    """softmax(Q K^T / sqrt(head size) + mask) per head, (B, heads, N, N): the weights ``attention`` (either
    attention module) applies to ``hidden_states`` in eval mode."""

    def heads(linear):
        x = linear(hidden_states)
        return x.view(*x.shape[:2], attention.num_attention_heads, attention.attention_head_size).transpose(1, 2)

    scores = heads(attention.query) @ heads(attention.key).transpose(-1, -2) / math.sqrt(attention.attention_head_size)
    return (scores + attention_mask).softmax(dim=-1)


@torch.no_grad()
def attention_matrices(model, encoded):
    """Per block, the attention (B, heads, N, N) it applies to its input in ``encoded``; None without attention."""
    attention_mask = model.get_attention_mask(encoded.item_seq)
    return [
        None if attention_of(block) is None else attention_probabilities(attention_of(block), x, attention_mask)
        for block, x in zip(blocks(model), encoded.layers, strict=False)
    ]


def attention_gain(attention, real, window):
    """Mean over users and heads of the attention's spectral response on the window's bins, each user's
    attention restricted to its real positions (rows sum to 1 there: padding keys get weight ~e^-10000)."""
    gains = [spectral_response(a[:, keep][:, :, keep], window).mean(0) for a, keep in zip(attention, real, strict=True)]
    return torch.stack(gains).mean(0)


def mean_spectrum(matrices, size):
    """Mean over users of the normalised singular values, index by index; a sequence of L < ``size`` positions
    has singular values 0 beyond the L-th."""
    total = torch.zeros(size, dtype=torch.float64)
    for x in matrices:
        values = normalised_singular_values(x)[:size]
        total[: values.numel()] += values
    return total / len(matrices)


# --- the commands


def register(subparsers):
    """Add the oversmoothing, beta and filters sub-commands."""
    commands = [
        (oversmoothing, "paper Fig. 3: singular values and cosine similarity of each layer's outputs", True),
        (beta, "paper Fig. 7a: the learned beta of each block per hidden dimension", False),
        (filters, "paper Fig. 2b: gain of the attention and of the frequency branch per frequency", True),
    ]
    for command, summary, takes_users in commands:
        parser = subparsers.add_parser(command.__name__, help=summary, description=summary)
        parser.add_argument("--checkpoint", action="append", required=True, metavar="PATH", help="repeat to compare")
        parser.add_argument("--out", default="docs/figures", help="folder for the PNG and CSV (default docs/figures)")
        if takes_users:
            parser.add_argument("--users", type=int, default=512, help="first N test users (default 512)")
        parser.add_argument("--data_path", help="folder holding the dataset, if not where the run found it")
        parser.set_defaults(run=command)


def load_runs(args):
    """The checkpoints' runs, with a legend label each; distinct checkpoints of one dataset, models this module
    can read. The arguments are checked before anything is loaded."""
    if getattr(args, "users", 1) < 1:
        raise UsageError(f"--users={args.users}: give at least 1")
    check_folder_option("--out", args.out)
    check_distinct(args.checkpoint)
    runs = [load_run(path, data_path=args.data_path, model_type="SEQUENTIAL") for path in args.checkpoint]
    for path, run in zip(args.checkpoint, runs, strict=True):
        if not isinstance(run.model, BSARec | SASRec):
            raise UsageError(f"checkpoint '{path}' is a {run.config['model']}: give BSARec (or an ablation) or SASRec")
    datasets = sorted({run.config["dataset"] for run in runs})
    if len(datasets) > 1:
        raise UsageError(f"the checkpoints are on datasets {', '.join(datasets)}: give checkpoints of one dataset")
    return runs, checkpoint_labels(args.checkpoint, [run.config["model"] for run in runs]), datasets[0]


def oversmoothing(args):
    """``oversmoothing``: per model and layer, the singular value spectrum and the mean pairwise cosine
    similarity of the positions' outputs within each sequence, averaged over the test users."""
    runs, labels, dataset = load_runs(args)
    rows = []
    for run, label, path in zip(runs, labels, args.checkpoint, strict=True):
        encoded = layer_outputs(run, args.users)
        for layer, hidden in enumerate(encoded.layers):
            sequences = [x[keep] for x, keep in zip(hidden, encoded.real, strict=True)]
            spectrum = mean_spectrum(sequences, min(hidden.shape[1:]))
            base = {"model": label, "checkpoint": path, "layer": layer}
            rows += [
                {**base, "kind": "singular_value", "index": i + 1, "value": v.item()} for i, v in enumerate(spectrum)
            ]
            cosine = sum(map(mean_cosine_similarity, sequences)) / len(sequences)
            rows.append({**base, "kind": "cosine", "index": "", "value": cosine})
    png, csv_path = outputs(args.out, f"oversmoothing_{dataset}")
    write_csv(csv_path, rows)
    plot_oversmoothing(rows, labels, f"Oversmoothing on {dataset} ({len(encoded.layers[0])} test users)", png)
    yield from (png, csv_path, "mean cosine similarity per layer (0 = input embedding):")
    for label in labels:
        cosines = [f"{row['value']:.3f}" for row in rows if row["model"] == label and row["kind"] == "cosine"]
        yield f"  {label}: {' '.join(cosines)}"


def plot_oversmoothing(rows, labels, title, png):
    """(a) the last layer's mean normalised singular values per model, (b) the cosine similarity per layer."""
    fig, (spectrum_ax, cosine_ax) = figure(ncols=2, width=5.5, height=4.0)
    for label in labels:
        mine = [row for row in rows if row["model"] == label]
        last = max(row["layer"] for row in mine)
        values = [row for row in mine if row["layer"] == last and row["kind"] == "singular_value"]
        spectrum_ax.plot([r["index"] for r in values], [r["value"] for r in values], label=f"{label} (layer {last})")
        cosines = [row for row in mine if row["kind"] == "cosine"]
        cosine_ax.plot([r["layer"] for r in cosines], [r["value"] for r in cosines], marker="o", label=label)
    spectrum_ax.set(
        yscale="log",
        xlabel="singular value index i (0 beyond a sequence's length)",
        ylabel="σ_i / σ_1 (mean over users, log scale)",
        title="(a) Singular values of the last layer's output",
    )
    cosine_ax.set(
        xlabel="layer (0 = input embedding, then each block)",
        ylabel="cosine similarity (mean over position pairs, users)",
        title="(b) Similarity between a sequence's positions",
    )
    cosine_ax.set_xticks(sorted({row["layer"] for row in rows}))
    for ax in (spectrum_ax, cosine_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    save_figure(fig, png)


def beta(args):
    """``beta``: the learned beta of each block per hidden dimension (one value per block for scalar beta)."""
    runs, labels, dataset = load_runs(args)
    rows = []
    for run, label, path in zip(runs, labels, args.checkpoint, strict=True):
        learned = betas(run.model)
        if not learned:
            raise UsageError(
                f"checkpoint '{path}' ({run.config['model']}) has no frequency branch, so no beta: "
                "give a BSARec, BSARecFilterOnly or BSARecScalarBeta checkpoint"
            )
        for block, values in enumerate(learned, start=1):
            rows += [{"model": label, "block": block, "dimension": d, "beta": v.item()} for d, v in enumerate(values)]
    png, csv_path = outputs(args.out, f"beta_{dataset}")
    write_csv(csv_path, rows)
    plot_beta(rows, labels, dataset, png)
    yield from (png, csv_path, "beta per block: min / mean / max")
    for label in labels:
        for block in sorted({row["block"] for row in rows if row["model"] == label}):
            values = [row["beta"] for row in rows if row["model"] == label and row["block"] == block]
            yield f"  {label} block {block}: {min(values):.3f} / {sum(values) / len(values):.3f} / {max(values):.3f}"


def plot_beta(rows, labels, dataset, png):
    """One panel per checkpoint: beta against the hidden dimension, one series per block (bars for scalar beta)."""
    fig, axes = figure(ncols=len(labels), width=6.0, height=4.0)
    for ax, label in zip(axes, labels, strict=True):
        mine = [row for row in rows if row["model"] == label]
        block_ids = sorted({row["block"] for row in mine})
        if all(row["dimension"] == 0 for row in mine):
            values = [row["beta"] for row in mine]
            ax.bar([f"block {b}" for b in block_ids], values, color=[f"C{b - 1}" for b in block_ids])
            ax.bar_label(ax.containers[0], fmt="%.3f")
            ax.set(xlabel="block", title=f"{label}: one scalar β per block")
        else:
            for block in block_ids:
                series = [row for row in mine if row["block"] == block]
                mean = sum(r["beta"] for r in series) / len(series)
                legend = f"block {block} (mean {mean:.3f})"
                ax.plot([r["dimension"] for r in series], [r["beta"] for r in series], ".-", lw=0.8, label=legend)
            ax.set(xlabel="hidden dimension d", title=f"{label}: β per hidden dimension")
            ax.legend()
        ax.axhline(1.0, color="grey", ls=":", lw=1)
        ax.set_ylabel("β = gain on the removed (high) frequencies")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Learned β of the frequency branch on {dataset} (dotted: β = 1, all frequencies kept)")
    save_figure(fig, png)


def filters(args):
    """``filters``: per block, the gain of the learned attention on each frequency (mean over the test users and
    heads, on their real positions) beside the frequency branch's gain."""
    runs, labels, dataset = load_runs(args)
    rows = []
    for run, label in zip(runs, labels, strict=True):
        encoded = layer_outputs(run, args.users)
        window = encoded.item_seq.size(1)
        attention = attention_matrices(run.model, encoded)
        for layer, (block, weights) in enumerate(zip(blocks(run.model), attention, strict=True), start=1):
            responses = []
            if weights is not None:
                responses.append(("attention", attention_gain(weights, encoded.real, window)))
            if getattr(block, "filter_layer", None) is not None:
                responses.append(("frequency", filter_response(block.filter_layer)))
            for branch, gain in responses:
                rows += [
                    {
                        "model": label,
                        "layer": layer,
                        "branch": branch,
                        "frequency_bin": k,
                        "frequency": f.item(),
                        "gain": g.item(),
                    }
                    for k, (f, g) in enumerate(zip(frequencies(window), gain, strict=True))
                ]
    png, csv_path = outputs(args.out, f"filters_{dataset}")
    write_csv(csv_path, rows)
    plot_filters(
        rows,
        labels,
        f"Gain per frequency on {dataset}: attention (mean over {len(encoded.real)} test users "
        "and heads) and frequency branch",
        png,
    )
    yield from (png, csv_path, "mean gain on the upper half of the frequencies (bins above window / 4):")
    for label, layer, branch in dict.fromkeys((row["model"], row["layer"], row["branch"]) for row in rows):
        high = [
            row["gain"]
            for row in rows
            if (row["model"], row["layer"], row["branch"]) == (label, layer, branch) and row["frequency"] > 0.25
        ]
        yield f"  {label} block {layer} {branch}: {sum(high) / len(high):.3f}"


def plot_filters(rows, labels, title, png):
    """One panel per block: gain against normalised frequency, attention solid, frequency branch dashed."""
    layers = sorted({row["layer"] for row in rows})
    fig, axes = figure(ncols=len(layers), width=5.5, height=4.0)
    for ax, layer in zip(axes, layers, strict=True):
        for color, label in enumerate(labels):
            for branch, style in (("attention", "o-"), ("frequency", "s--")):
                series = [row for row in rows if (row["model"], row["layer"], row["branch"]) == (label, layer, branch)]
                if series:
                    ax.plot(
                        [r["frequency"] for r in series],
                        [r["gain"] for r in series],
                        style,
                        color=f"C{color}",
                        ms=3,
                        lw=1.2,
                        label=f"{label} {branch if branch == 'attention' else 'frequency branch (mean β)'}",
                    )
        ax.set(
            xlabel="normalised frequency k / N (cycles per position)",
            ylabel="gain ‖A v_k‖ / ‖v_k‖ (ratio)",
            title=f"Block {layer}",
            ylim=(0, None),
        )
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    save_figure(fig, png)
