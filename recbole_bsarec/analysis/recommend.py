"""Recommendations from checkpoints and where their test targets rank: ``recommend`` (top-k items for users or
for a history typed on the command line), ``case-study`` (one user under two models) and ``by-length`` (test
HR@10 and NDCG@10 by the user's history length).

Scores are the model's ``full_sort_predict``, the padding item excluded, as full-sort evaluation ranks them.
Test-target ranks also mask each user's history as the checkpoint's ``eval_history_mask`` says, so their HR and
NDCG are the checkpoint's test metrics. A rank is 1 + the number of items scored strictly higher than the target.
"""

import math
import os

import numpy as np
import torch
from recbole.data.interaction import Interaction

from recbole_bsarec.analysis.load import check_distinct, checkpoint_labels
from recbole_bsarec.analysis.output import check_file_option, check_folder_option, figure, outputs, save_figure
from recbole_bsarec.atomic import write_csv, write_text
from recbole_bsarec.data.history import mask_scores
from recbole_bsarec.errors import UsageError
from recbole_bsarec.pipeline import load_run

K = 10  # the cut-off of the case study and of by-length's HR and NDCG
SHOWN_HISTORY = 10  # the case study shows this many of the user's last input items
PICK_RULE = (
    "the test user whose target exactly one of the two models ranks in its top-k, with the largest difference "
    "between the two target ranks (over all test users if there is no such user); the first in test order on ties"
)


def sequential_run(path, data_path=None):
    """``load_run`` for sequential models only: they are the ones with a test-time input per user."""
    return load_run(path, data_path, model_type="SEQUENTIAL")


def runs_of_one_dataset(paths, data_path=None):
    """The runs of ``paths`` (distinct checkpoints, which must share a dataset for their users and items to be
    compared) and a label for each (see ``checkpoint_labels``)."""
    check_distinct(paths)
    runs = [sequential_run(path, data_path) for path in paths]
    names = sorted({run.config["dataset"] for run in runs})
    if len(names) > 1:
        raise UsageError(f"the checkpoints are of different datasets ({', '.join(names)}): give one dataset's")
    return runs, checkpoint_labels(paths, [run.config["model"] for run in runs])


@torch.no_grad()
def full_sort_scores(run, interaction, history, mask):
    """Every item's score for each row of ``interaction``, the padding item at -inf and the ``history``
    entries (rows, items) set as ``mask`` (none / zero / exclude) says: what full-sort evaluation ranks."""
    scores = run.model.full_sort_predict(interaction.to(run.config["device"]))
    scores = scores.view(len(interaction), -1).float().cpu()
    scores[:, 0] = -math.inf
    return mask_scores(scores, history, mask)


def user_ids(run, tokens):
    """Internal ids of the user ``tokens``; tokens that are no test user are a UsageError naming them."""
    dataset = run.dataset
    known = dataset.field2token_id[dataset.uid_field]
    tested = set(run.test_data._dataset.inter_feat[dataset.uid_field].tolist())
    unknown = [token for token in tokens if known.get(token) not in tested]
    if unknown:
        raise UsageError(
            f"user(s) {', '.join(unknown)} are not test users of dataset {run.config['dataset']}: "
            "give user ids as its .inter file spells them"
        )
    return [known[token] for token in tokens]


def item_ids(run, tokens):
    """Internal ids of the item ``tokens``; unknown ones are a UsageError naming them."""
    dataset = run.dataset
    known = dataset.field2token_id[dataset.iid_field]
    unknown = [token for token in tokens if not known.get(token)]  # id 0 is the padding item
    if unknown:
        raise UsageError(
            f"item(s) {', '.join(unknown)} of --history are not items of dataset {run.config['dataset']}: "
            "give item ids as its .inter file spells them"
        )
    return [known[token] for token in tokens]


def user_inputs(run, users):
    """The test interactions (test-time input and target) of internal user ids ``users``, in that order."""
    feat = run.test_data._dataset.inter_feat
    row_of = {user: row for row, user in enumerate(feat[run.dataset.uid_field].tolist())}
    return run.test_data.collate_fn([row_of[user] for user in users])[0]


def history_input(run, items):
    """The model input of one user whose history is ``items`` (ids, oldest first): the last window of it,
    right-padded as RecBole's sequential datasets store inputs."""
    model = run.model
    window = items[-model.max_seq_length :]
    sequence = torch.zeros(1, model.max_seq_length, dtype=torch.long)
    sequence[0, : len(window)] = torch.tensor(window)
    return Interaction({model.ITEM_SEQ: sequence, model.ITEM_SEQ_LEN: torch.tensor([len(window)])})


def top_k(run, users, k, mask_history):
    """(items, scores), each (users, k): the best-scored items for internal user ids ``users`` given their
    test-time input; with ``mask_history``, none of the items the user had before the test target."""
    history = run.test_data._dataset.history.entries(torch.tensor(users))
    if mask_history:
        names = run.dataset.id2token(run.dataset.uid_field, users)
        check_left_to_rank(run, k, history, [f"user {name}" for name in names])
    scores = full_sort_scores(run, user_inputs(run, users), history, "exclude" if mask_history else "none")
    values, items = torch.topk(scores, k, dim=1)
    return items, values


def top_k_for_history(run, items, k, mask_history):
    """(items, scores), each (1, k): the best-scored items after the history ``items`` (ids, oldest first);
    with ``mask_history``, none of those items."""
    history = (torch.zeros(len(items), dtype=torch.long), torch.tensor(items))
    if mask_history:
        check_left_to_rank(run, k, history, ["the --history"])
    scores = full_sort_scores(run, history_input(run, items), history, "exclude" if mask_history else "none")
    values, top = torch.topk(scores, k, dim=1)
    return top, values


def check_left_to_rank(run, k, history, who):
    """A UsageError unless each row keeps ``k`` items to rank once its ``history`` entries (rows, items) are left
    out; ``who`` names the rows for the message."""
    rows, items = history
    masked = torch.zeros(len(who), run.dataset.item_num, dtype=torch.bool)
    masked[rows, items] = True
    left = run.dataset.item_num - 1 - masked[:, 1:].sum(dim=1)  # item 0 pads
    worst = int(left.argmin())
    remaining = int(left[worst])
    if remaining < k:
        fix = f"lower --k to {remaining} or drop --mask-history" if remaining else "drop --mask-history"
        raise UsageError(
            f"--mask-history leaves {remaining} of the {run.dataset.item_num - 1} items of {run.config['dataset']} "
            f"to rank for {who[worst]}, fewer than --k {k}: {fix}"
        )


def evaluated_scores(run, user):
    """Every item's score for internal user id ``user`` as test evaluation ranks them: the checkpoint's own
    ``eval_history_mask`` applies."""
    history = run.test_data._dataset.history.entries(torch.tensor([user]))
    return full_sort_scores(run, user_inputs(run, [user]), history, run.config["eval_history_mask"])[0]


def target_ranks(run):
    """Per test user (in test order): internal id, history length (items before the test target), target
    item and its rank under the scores and history mask of the checkpoint's test evaluation."""
    columns = {"user": [], "length": [], "target": [], "rank": []}
    for interaction, _, positive_u, positive_i in run.test_data:
        users = interaction[run.dataset.uid_field]
        history = run.test_data._dataset.history.entries(users)
        scores = full_sort_scores(run, interaction, history, run.config["eval_history_mask"])
        target = scores[positive_u, positive_i].unsqueeze(1)
        columns["user"].append(users)
        columns["length"].append(torch.bincount(history[0], minlength=len(users)))
        columns["target"].append(positive_i)
        columns["rank"].append(1 + (scores > target).sum(dim=1))
    return {name: torch.cat(parts).numpy() for name, parts in columns.items()}


def hit_ndcg(ranks, k=K):
    """HR@k and NDCG@k of one target per user at ``ranks``, as RecBole computes them (NaN for no users)."""
    if len(ranks) == 0:
        return math.nan, math.nan
    hit = ranks <= k
    return float(hit.mean()), float(np.where(hit, 1 / np.log2(ranks + 1.0), 0.0).mean())


def default_edges(lengths):
    """History-length tertiles (at least one apart): the three buckets then hold about a third each."""
    low, high = (int(edge) for edge in np.quantile(lengths, [1 / 3, 2 / 3], method="lower"))
    return low, max(high, low + 1)


def buckets(edges):
    """(name, label, test) of each bucket: short (length <= edges[0]), medium (up to edges[1]) and long."""
    low, high = edges
    return [
        ("short", f"<={low}", lambda length: length <= low),
        ("medium", f"{low + 1}-{high}", lambda length: (length > low) & (length <= high)),
        ("long", f">{high}", lambda length: length > high),
    ]


def bucket_metrics(ranks, lengths, edges, k=K):
    """Per history-length bucket (see ``buckets``): its name, length range, user count, HR@k and NDCG@k."""
    rows = []
    for name, label, inside in buckets(edges):
        chosen = ranks[inside(lengths)]
        hit, ndcg = hit_ndcg(chosen, k)
        rows.append({"bucket": name, "history_length": label, "users": len(chosen), f"hit@{k}": hit, f"ndcg@{k}": ndcg})
    return rows


def pick_user(first, second, k=K):
    """Index (in test order) of the case-study user given two models' target ranks: see PICK_RULE."""
    split = (first <= k) != (second <= k)
    candidates = np.flatnonzero(split) if split.any() else np.arange(len(first))
    difference = np.abs(first.astype(np.int64) - second.astype(np.int64))[candidates]
    return int(candidates[np.argmax(difference)])


def text_table(rows):
    """``rows`` (dicts with the same keys) as aligned lines of text, the header first; floats to 4 places."""
    cells = [list(rows[0])] + [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(cells[0]))]
    return ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]


def check_k(run, k):
    """A UsageError unless 1 <= ``k`` < the number of items (padding aside, one could be the target)."""
    if not 1 <= k < run.dataset.item_num - 1:
        raise UsageError(f"--k {k} is out of range: use 1 to {run.dataset.item_num - 2} for {run.config['dataset']}")


def recommend(args):
    """The top-k table of ``recommend``, written to --csv if given."""
    if args.csv is not None:
        check_file_option("--csv", args.csv, "recommendations.csv")
    run = sequential_run(args.checkpoint, args.data_path)
    check_k(run, args.k)
    if args.history is not None:
        tokens = args.history.split()
        if not tokens:
            raise UsageError('--history is empty: give item ids in time order, e.g. --history "12 7 31"')
        names = ["(history)"]
        items, scores = top_k_for_history(run, item_ids(run, tokens), args.k, args.mask_history)
    else:
        names = args.users
        items, scores = top_k(run, user_ids(run, names), args.k, args.mask_history)
    rows = []
    for name, row_items, row_scores in zip(names, items.tolist(), scores.tolist(), strict=True):
        tokens = run.dataset.id2token(run.dataset.iid_field, row_items)
        for rank, (token, score) in enumerate(zip(tokens, row_scores, strict=True), start=1):
            rows.append({"user": name, "rank": rank, "item": str(token), "score": round(score, 6)})
    yield from text_table(rows)
    if args.csv is not None:
        yield f"wrote {write_csv(args.csv, rows)}"


def item_tokens(run, ids):
    """The original tokens of internal item ``ids``."""
    return [str(token) for token in run.dataset.id2token(run.dataset.iid_field, ids)]


def case_study_rows(runs, labels, index, ranks, k=K):
    """CSV rows of the case study of the ``index``-th test user: the last input items (rank -n..-1, -1 the
    latest), and per model its top-k as test evaluation ranks it and the target's rank and score."""
    run = runs[0]
    user = int(ranks[0]["user"][index])
    user_token = str(run.dataset.id2token(run.dataset.uid_field, user))
    interaction = user_inputs(run, [user])
    sequence = interaction[run.model.ITEM_SEQ][0, : int(interaction[run.model.ITEM_SEQ_LEN][0])].tolist()
    shown = item_tokens(run, sequence[-SHOWN_HISTORY:])
    rows = [
        {"user": user_token, "model": "", "kind": "history", "rank": i - len(shown), "item": token, "score": ""}
        for i, token in enumerate(shown)
    ]
    target = int(ranks[0]["target"][index])
    for model_run, label, model_ranks in zip(runs, labels, ranks, strict=True):
        scores = evaluated_scores(model_run, user)
        values, top = torch.topk(scores, k)
        rows += [
            {"user": user_token, "model": label, "kind": "top-k", "rank": rank, "item": token, "score": score}
            for rank, (token, score) in enumerate(zip(item_tokens(run, top), values.tolist(), strict=True), start=1)
        ]
        rank = int(model_ranks["rank"][index])
        token = item_tokens(run, [target])[0]
        rows.append(
            {
                "user": user_token,
                "model": label,
                "kind": "target",
                "rank": rank,
                "item": token,
                "score": float(scores[target]),
            }
        )
    return rows


def case_study_markdown(rows, runs, labels, length):
    """The case study as markdown: the rule that picked the user, their last items, the target, each model's
    top-k side by side (the target in bold) and the target's rank under each model."""
    user = rows[0]["user"]
    shown = [row["item"] for row in rows if row["kind"] == "history"]
    target = next(row["item"] for row in rows if row["kind"] == "target")
    masks = ", ".join(f"{label} {run.config['eval_history_mask']}" for label, run in zip(labels, runs, strict=True))
    lines = [
        f"## Case study: {runs[0].config['dataset']} user {user}",
        "",
        f"Picked as {PICK_RULE}. Test-time history masking (eval_history_mask): {masks}.",
        "",
        f"Last {len(shown)} of the user's {length} history items (oldest first): {', '.join(shown)}",
        "",
        f"Test target: **{target}**",
        "",
        "| rank | " + " | ".join(labels) + " |",
        "|---:|" + "---|" * len(labels),
    ]
    tops = [[row for row in rows if row["kind"] == "top-k" and row["model"] == label] for label in labels]
    for position in range(len(tops[0])):
        cells = [
            (f"**{row['item']}**" if row["item"] == target else row["item"]) + f" ({row['score']:.3f})"
            for row in (top[position] for top in tops)
        ]
        lines.append(f"| {position + 1} | " + " | ".join(cells) + " |")
    target_ranks_row = [str(row["rank"]) for row in rows if row["kind"] == "target"]
    lines.append("| target rank | " + " | ".join(target_ranks_row) + " |")
    return lines


def case_study(args):
    """Write and print the case study of ``case-study``."""
    if len(args.checkpoint) != 2:
        raise UsageError(f"case-study compares two models, got {len(args.checkpoint)} --checkpoint: give two")
    check_folder_option("--out", args.out)
    runs, labels = runs_of_one_dataset(args.checkpoint, args.data_path)
    check_k(runs[0], args.k)
    ranks = [target_ranks(run) for run in runs]
    if not np.array_equal(ranks[0]["user"], ranks[1]["user"]):
        raise UsageError("the two checkpoints have different test users: give checkpoints of one data split")
    if args.user is None:
        index = pick_user(ranks[0]["rank"], ranks[1]["rank"], args.k)
    else:
        index = int(np.flatnonzero(ranks[0]["user"] == user_ids(runs[0], [args.user])[0])[0])
    rows = case_study_rows(runs, labels, index, ranks, args.k)
    lines = case_study_markdown(rows, runs, labels, int(ranks[0]["length"][index]))
    _, csv_path = outputs(args.out, "case_study")
    markdown_path = os.path.join(args.out, "case_study.md")
    write_text(markdown_path, "\n".join(lines) + "\n")
    yield from lines
    yield f"wrote {markdown_path}"
    yield f"wrote {write_csv(csv_path, rows)}"


def plot_by_length(rows, labels, edges_text, dataset, path):
    """Grouped bars of HR@10 and NDCG@10 per history-length bucket, one bar per model."""
    fig, axes = figure(2, 5.2, 3.8)
    first = [row for row in rows if row["model"] == labels[0]]
    ticks = [f"{row['bucket']}\n{row['history_length']} items\n{row['users']} users" for row in first]
    width = 0.8 / len(labels)
    for ax, metric, name in zip(axes, (f"hit@{K}", f"ndcg@{K}"), (f"HR@{K}", f"NDCG@{K}"), strict=True):
        for i, label in enumerate(labels):
            values = [row[metric] for row in rows if row["model"] == label]
            offsets = np.arange(len(values)) + (i - (len(labels) - 1) / 2) * width
            ax.bar_label(ax.bar(offsets, values, width, label=label), fmt="%.3f", fontsize=7)
        ax.set_xticks(np.arange(len(ticks)), ticks)
        ax.set_xlabel("history length (items before the test target)")
        ax.set_ylabel(f"test {name} (mean over users)")
        ax.set_title(name)
        ax.margins(y=0.15)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{dataset}: test HR@{K} and NDCG@{K} by history length ({edges_text})", y=1.02)
    return save_figure(fig, path)


def by_length(args):
    """Write the CSV and figure of ``by-length`` and print the table."""
    if args.edges is not None and not 0 <= args.edges[0] < args.edges[1]:
        raise UsageError(f"--edges {args.edges[0]} {args.edges[1]}: give two increasing lengths, e.g. --edges 5 20")
    check_folder_option("--out", args.out)
    runs, labels = runs_of_one_dataset(args.checkpoint, args.data_path)
    ranks = [target_ranks(run) for run in runs]
    edges = tuple(args.edges) if args.edges is not None else default_edges(ranks[0]["length"])
    edges_text = f"bucket edges {edges[0]} and {edges[1]} items" + ("" if args.edges else ", the tertiles")
    rows = [
        {"model": label, **row}
        for label, model_ranks in zip(labels, ranks, strict=True)
        for row in bucket_metrics(model_ranks["rank"], model_ranks["length"], edges)
    ]
    png_path, csv_path = outputs(args.out, "by_length")
    plot_by_length(rows, labels, edges_text, runs[0].config["dataset"], png_path)
    yield from text_table(rows)
    yield f"wrote {png_path}"
    yield f"wrote {write_csv(csv_path, rows)}"


def register(subparsers):
    """The ``recommend``, ``case-study`` and ``by-length`` sub-commands."""
    parser = subparsers.add_parser("recommend", help="top-k items for test users or for a typed history")
    parser.add_argument("--checkpoint", required=True, help="a .pth file a run saved")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", nargs="+", metavar="TOKEN", help="user ids: their test-time input")
    who.add_argument("--history", metavar='"ITEM ITEM ..."', help="item ids in time order, oldest first")
    parser.add_argument("--k", type=int, default=K, help="how many items (default %(default)s)")
    parser.add_argument("--mask-history", action="store_true", help="leave out the items of the history")
    parser.add_argument("--csv", help="also write the table (user, rank, item, score) here")
    parser.add_argument("--data_path", help="the folder holding the dataset, if not where the run found it")
    parser.set_defaults(run=recommend)

    parser = subparsers.add_parser("case-study", help="one test user's top-k under two models (markdown + CSV)")
    parser.add_argument("--checkpoint", action="append", required=True, help="give it twice: BSARec, SASRec")
    parser.add_argument("--user", metavar="TOKEN", help="the user id (default: " + PICK_RULE + ")")
    parser.add_argument("--k", type=int, default=K, help="length of each top list (default %(default)s)")
    parser.add_argument("--out", default="docs/figures", help="folder (default %(default)s)")
    parser.add_argument("--data_path", help="the folder holding the dataset, if not where the run found it")
    parser.set_defaults(run=case_study)

    parser = subparsers.add_parser("by-length", help="test HR@10 and NDCG@10 by history length (PNG + CSV)")
    parser.add_argument("--checkpoint", action="append", required=True, help="one or more, one dataset")
    parser.add_argument("--edges", nargs=2, type=int, metavar=("SHORT", "MEDIUM"), help="default: tertiles")
    parser.add_argument("--out", default="docs/figures", help="folder (default %(default)s)")
    parser.add_argument("--data_path", help="the folder holding the dataset, if not where the run found it")
    parser.set_defaults(run=by_length)
