"""Batches made on the run's device (``train_on_device``): each split's samples are moved there once, and every
batch is gathered there by index. The indices come from RecBole's own loader (torch's DataLoader over the sample
numbers, shuffled from the loader's generator), so the batches, their order and a resumed run's are RecBole's;
only where they are assembled moves. With ``pad_last_batch``, the last training batch of an epoch is filled up to
the batch size with copies whose targets cross-entropy ignores, so every step has one shape."""

from logging import getLogger

import torch
from recbole.data.dataloader import FullSortEvalDataLoader, TrainDataLoader
from recbole.data.interaction import Interaction
from recbole.utils import InputType

from recbole_bsarec.errors import ConfigError

IGNORED_TARGET = -100  # torch's cross-entropy ignore_index: a padded row adds nothing to the loss or its mean
PADDED_MODELS = {"GRU4Rec"}  # RecBole's models (not subclassed here) whose CE loss is a mean of one term per row


class DeviceSamples:
    """A split's interaction features (and its user and item features, for RecBole's join) as tensors on
    ``device``; ``gather(rows)`` is ``dataset[rows]`` there."""

    def __init__(self, dataset, device):
        self.device = torch.device(device)
        self.dataset = dataset
        self.inter = dataset.inter_feat.to(self.device)
        self.user = dataset.user_feat.to(self.device) if dataset.user_feat is not None else None
        self.item = dataset.item_feat.to(self.device) if dataset.item_feat is not None else None

    def gather(self, rows):
        """The samples numbered ``rows`` (a CPU tensor), joined with their user and item features, on the device."""
        return self.join(take(self.inter, rows.to(self.device)))

    def join(self, batch):
        """RecBole's ``Dataset.join`` on device tensors."""
        data = self.dataset
        if self.user is not None and data.uid_field in batch:
            batch.update(take(self.user, batch[data.uid_field]))
        if self.item is not None and data.iid_field in batch:
            batch.update(take(self.item, batch[data.iid_field]))
        return batch


def take(feat, index):
    """``feat[index]`` for an index tensor on the features' device (RecBole's ``Interaction`` indexing turns a
    tensor into a Python list first: a copy to the host and a slow gather)."""
    return Interaction({field: values[index] for field, values in feat.interaction.items()})


def device_path_problem(config, loader):
    """Why ``loader`` cannot make its batches on the device (None if it can)."""
    if not config["single_spec"]:
        return "distributed training splits the batches itself"
    if config["worker"]:
        return f"worker={config['worker']} loads batches in other processes"
    args = getattr(loader, "neg_sample_args", {"distribution": "none"})
    if args["distribution"] != "none" and (args.get("dynamic") or loader.dl_format != InputType.PAIRWISE):
        return "its negatives are sampled dynamically or point-wise"
    return None


class DeviceTrainDataLoader(TrainDataLoader):
    """RecBole's training loader whose batches are gathered on the run's device; negatives are drawn by RecBole's
    sampler from the same host copies of the user and item ids, so they are the same draws."""

    def __init__(self, config, dataset, sampler, shuffle=False):
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        self.samples = DeviceSamples(dataset, config["device"])
        self.pad = bool(config["pad_last_batch"])

    def collate_fn(self, index):
        rows = torch.as_tensor(index, dtype=torch.long)
        real = len(rows)
        if self.pad and real < self.step:
            rows = torch.cat([rows, rows[:1].expand(self.step - real)])
        batch = self.transform(self._dataset, self.samples.gather(rows))
        if self.neg_sample_args["distribution"] != "none":
            batch = self.with_negatives(batch, rows)
        if real < len(rows):
            batch[self._dataset.iid_field][real:] = IGNORED_TARGET
        return batch

    def with_negatives(self, batch, rows):
        """RecBole's pair-wise sampling: ``neg_sample_num`` negatives per sample, each copy of the batch paired
        with one of them."""
        data = self._dataset
        users = data.inter_feat[data.uid_field][rows].numpy()
        items = data.inter_feat[data.iid_field][rows].numpy()
        negatives = self._sampler.sample_by_user_ids(users, items, self.neg_sample_num)
        negative_feat = self.samples.join(Interaction({data.iid_field: negatives.to(self.samples.device)}))
        negative_feat.add_prefix(self.neg_prefix)
        batch = batch.repeat(self.times)
        batch.update(negative_feat)
        return batch


class DeviceFullSortEvalDataLoader(FullSortEvalDataLoader):
    """RecBole's full-sort evaluation loader of a sequential model, its batches gathered on the run's device, and
    the split's user histories (``eval_history_mask``) there too."""

    def __init__(self, config, dataset, sampler, shuffle=False):
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        self.samples = DeviceSamples(dataset, config["device"])
        if getattr(dataset, "history", None) is not None:
            dataset.history = dataset.history.to(config["device"])

    def collate_fn(self, index):
        batch = self.transform(self._dataset, self.samples.gather(torch.as_tensor(index, dtype=torch.long)))
        positive_u = torch.arange(len(batch), device=self.samples.device)
        return batch, None, positive_u, batch[self._dataset.iid_field]


def check_padding(config):
    """``pad_last_batch`` needs a loss that is a mean of one cross-entropy term per sample: the padded rows'
    targets are ignored there, and nothing else in the batch sees them."""
    if not config["pad_last_batch"]:
        return
    model_class = config.model_class
    row_wise = getattr(model_class, "ROW_WISE_CE", config["model"] in PADDED_MODELS)
    if not row_wise or config["loss_type"] != "CE":
        raise ConfigError(
            f"pad_last_batch=True needs a model trained by cross-entropy alone, one term per sample; "
            f"{config['model']} with loss_type={config['loss_type']} is not: set pad_last_batch=False"
        )


def on_device(config, train_data, valid_data, test_data):
    """RecBole's loaders of a sequential model, remade to gather their batches on ``config['device']`` when
    ``train_on_device`` is set and they can (else RecBole's, after one log line saying why)."""
    if not config["train_on_device"]:
        return train_data, valid_data, test_data
    problem = device_path_problem(config, train_data)
    if problem is not None:
        getLogger().info(f"train_on_device: batches are made on the host, as {problem}")
        return train_data, valid_data, test_data
    train = DeviceTrainDataLoader(config, train_data._dataset, train_data._sampler, shuffle=train_data.shuffle)
    evaluation = [
        DeviceFullSortEvalDataLoader(config, data._dataset, data._sampler)
        if type(data) is FullSortEvalDataLoader
        else data
        for data in (valid_data, test_data)
    ]
    return train, *evaluation
