"""The reference code's protocol where it differs from RecBole's, as config switches on RecBole's own
sequential datasets: ``train_window`` (which prefixes train) and ``eval_history_mask`` (what full-sort
evaluation does with the items a user has already seen: each evaluation split carries its ``UserHistory``);
``stopping_rule`` is checked here and applied by the trainer. properties/protocol/paper.yaml turns all three on.
Every dataset, whatever the model type, reads its atomic files with the package's parser (``read_atomic``)."""

import importlib
from logging import getLogger

import numpy as np
import torch
from recbole.data.interaction import Interaction
from recbole.utils import FeatureSource, FeatureType, ModelType

from recbole_bsarec.data.check import header_fields, read_atomic
from recbole_bsarec.data.history import HISTORY_MASKS, UserHistory
from recbole_bsarec.errors import ConfigError

TRAIN_WINDOWS = ("all", "last")
DEFAULTS = {"train_window": "all", "eval_history_mask": "none"}
BASE_CLASSES = {ModelType.SEQUENTIAL: "SequentialDataset", ModelType.KNOWLEDGE: "KnowledgeBasedDataset"}


def check_protocol(config):
    """Reject unknown values, and switches on a model whose dataset they do not apply to."""
    for key, allowed in (("train_window", TRAIN_WINDOWS), ("eval_history_mask", HISTORY_MASKS)):
        if config[key] not in allowed:
            raise ConfigError(f"{key}={config[key]!r} is unknown: use one of {', '.join(allowed)}")
        if config[key] != DEFAULTS[key] and config["MODEL_TYPE"] != ModelType.SEQUENTIAL:
            raise ConfigError(f"{key}={config[key]} applies to sequential models only: drop it for {config['model']}")
    if config["stopping_rule"] == "reference" and "@" not in config["valid_metric"]:
        raise ConfigError(
            f"stopping_rule=reference compares a top-k valid_metric unrounded, not {config['valid_metric']}: "
            "use e.g. valid_metric: NDCG@20"
        )


class ProtocolDatasetMixin:
    """Gives each evaluation split the ``history`` its users had before its target (for ``eval_history_mask``)
    and, with ``train_window: last``, keeps only the reference code's training samples: targets among the last
    MAX_ITEM_LIST_LENGTH items before the validation target, each input cut at that window's start.

    The reference code also trains on the window's first item with an all-padding input; RecBole's models
    cannot take an empty sequence, so that one sample per user is left out.
    """

    history = None  # the training split and the whole dataset have none

    def data_augmentation(self):
        self.sort(by=[self.uid_field, self.time_field], ascending=True)
        users = self.inter_feat[self.uid_field].numpy()
        items = self.inter_feat[self.iid_field].numpy()
        _, starts = np.unique(users, return_index=True)
        self._sequences = dict(zip(users[starts].tolist(), np.split(items, starts[1:]), strict=True))
        super().data_augmentation()
        if self.config["train_window"] == "last":
            self.keep_last_window()

    def build(self):
        """RecBole's splits; under leave-one-out, test's history is all but each user's last item, validation's all
        but the last 2."""
        datasets = super().build()
        for split, offset in zip(datasets[:0:-1], (1, 2), strict=False):  # test, then validation
            split.history = UserHistory(self._sequences, offset)
        return datasets

    def keep_last_window(self):
        """Drop the training samples before the last window and cut the others' inputs at its start."""
        users = self.inter_feat[self.uid_field].numpy()
        _, starts, counts = np.unique(users, return_index=True, return_counts=True)
        position = np.arange(len(users)) - np.repeat(starts, counts) + 1  # the target's index in its sequence
        length = np.repeat(counts, counts) + 1  # the user's number of items
        window_start = np.maximum(0, length - 2 - self.max_item_list_len)
        training = position <= length - 3  # the last two samples validate and test
        keep = np.flatnonzero(~training | (position > window_start))
        old_length = self.inter_feat[self.item_list_length_field].numpy()
        new_length = np.where(training, position - window_start, old_length)
        shift = torch.from_numpy(old_length - new_length)[keep]
        new_length = torch.from_numpy(new_length)[keep]
        feat = self.inter_feat[keep]
        lists = {self.item_list_length_field: new_length}
        for field in feat.interaction:
            if field.endswith(self.config["LIST_SUFFIX"]):
                lists[field] = shift_left(feat[field], shift, new_length)
        feat.update(Interaction(lists))
        self.inter_feat = feat


def shift_left(values, shift, length):
    """Row i of ``values`` (R, N, ...) moved left by ``shift[i]``, zero from ``length[i]`` on."""
    steps = torch.arange(values.size(1)).unsqueeze(0)
    index = (steps + shift.unsqueeze(1)).clamp(max=values.size(1) - 1)
    inside = steps < length.unsqueeze(1)
    extra = (1,) * (values.dim() - 2)
    index = index.view(*index.shape, *extra).expand_as(values)
    moved = values.gather(1, index)
    return moved * inside.view(*inside.shape, *extra).to(values.dtype)


class AtomicFileMixin:
    """Reads atomic files with ``read_atomic``, the parser the package's check uses, instead of RecBole's own
    ``pd.read_csv`` (python engine, quoting on, 131072-character fields), which fails on files the check
    passes; what RecBole does after reading (columns, field types, sequence splitting, seq_len) is kept."""

    def _load_feat(self, filepath, source):
        """RecBole's ``Dataset._load_feat``, reading through ``read_atomic``."""
        load_col, unload_col = self._get_load_and_unload_col(source)
        if load_col == set():
            return None
        header = header_fields(filepath, self.config["field_separator"], self.config["encoding"] or "utf-8")
        fields = [
            (name, kind)
            for name, kind in header
            if (load_col is None or name in load_col) and (unload_col is None or name not in unload_col)
        ]
        if isinstance(source, FeatureSource) or source != "link":
            for name, kind in fields:
                self.register_field(name, FeatureType(kind), source)
        if not fields:
            self.logger.warning(f"No columns has been loaded from [{source}]")
            return None
        feat = read_atomic(filepath, self.config, fields).reset_index(drop=True)
        for name, kind in fields:
            if kind.endswith("_seq"):
                self.cut_sequences(feat, name)
        return feat

    def register_field(self, name, ftype, source):
        """Record a loaded field's source, type, length and bucket count, as RecBole's reader does."""
        self.field2source[name] = source
        self.field2type[name] = ftype
        if not ftype.value.endswith("seq"):
            self.field2seqlen[name] = 1
        if "float" in ftype.value:
            self.field2bucketnum[name] = 2

    def cut_sequences(self, feat, name):
        """Cut a sequence field at ``seq_len[name]`` if set; its length is then the longest kept sequence."""
        longest = max(map(len, feat[name]), default=0)
        limit = (self.config["seq_len"] or {}).get(name)
        if limit is not None:
            feat[name] = [values[:limit] for values in feat[name]]
            longest = min(limit, longest)
        self.field2seqlen[name] = longest


def create_dataset(config):
    """The dataset class RecBole would pick for ``config``, reading with the package's parser; for sequential
    models, with the protocol switches."""
    check_protocol(config)
    module = importlib.import_module("recbole.data.dataset")
    base = getattr(module, f"{config['model']}Dataset", None) or getattr(
        module, BASE_CLASSES.get(config["MODEL_TYPE"], "Dataset")
    )
    sequential = config["MODEL_TYPE"] == ModelType.SEQUENTIAL
    mixins = (ProtocolDatasetMixin, AtomicFileMixin) if sequential else (AtomicFileMixin,)
    dataset = type(base.__name__, (*mixins, base), {})(config)
    if sequential:
        bound_eval_batch(config, dataset.item_num)
    return dataset


def bound_eval_batch(config, n_items):
    """Full-sort evaluation of a sequential model scores ``eval_batch_size`` users x every item at once
    (RecBole counts users there, not scores): with many items, fewer users per batch keep the score matrix
    within ``eval_scores_per_batch``. Rankings are per user, so they do not depend on the batching."""
    users = max(1, config["eval_scores_per_batch"] // n_items)
    if (
        config["eval_args"]["mode"].get("test", config["eval_args"]["mode"]) == "full"
        and users < config["eval_batch_size"]
    ):
        getLogger().info(f"eval_batch_size {config['eval_batch_size']} -> {users} users: {n_items} items per user")
        config["eval_batch_size"] = users
