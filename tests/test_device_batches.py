"""Batches gathered on the run's device (``train_on_device``) and the padded last batch (``pad_last_batch``): the
same batches, negatives, histories and results as RecBole's loaders, and a padded batch's loss and gradients
those of the unpadded one."""

import pytest
import torch
from conftest import TINY, make_model, prepare
from recbole.data.dataloader import FullSortEvalDataLoader, TrainDataLoader

from recbole_bsarec.data.device import DeviceFullSortEvalDataLoader, DeviceTrainDataLoader
from recbole_bsarec.data.history import UserHistory
from recbole_bsarec.errors import ConfigError

PAPER = "properties/protocol/paper.yaml"
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]  # a GPU machine checks CUDA too


def epochs_of(loader, epochs=3, device="cpu"):
    """Every batch of ``epochs`` passes over ``loader``, as plain tensors per field on ``device``."""
    return [[dict(batch.to(device).interaction) for batch in loader] for _ in range(epochs)]


def assert_same_batches(ours, theirs):
    assert len(ours) == len(theirs)
    for our_epoch, their_epoch in zip(ours, theirs, strict=True):
        assert len(our_epoch) == len(their_epoch)
        for our, their in zip(our_epoch, their_epoch, strict=True):
            assert our.keys() == their.keys()
            for field in their:
                assert torch.equal(our[field], their[field]), field


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("loss", ["CE", "BPR"])
def test_same_batches_as_recbole(rule_data, loss, device):
    """Three shuffled epochs, field by field, negatives included (BPR), from the same seed."""
    neg = {"distribution": "uniform", "sample_num": 1} if loss == "BPR" else None
    settings = {"loss_type": loss, "train_neg_sample_args": neg, "train_batch_size": 64, "use_gpu": device == "cuda"}
    _, ours, valid, _ = prepare("BSARec", rule_data, **settings)
    assert type(ours) is DeviceTrainDataLoader and type(valid) is DeviceFullSortEvalDataLoader
    our_batches = [[dict(batch.interaction) for batch in ours] for _ in range(3)]  # as they come
    assert our_batches[0][0]["item_id"].device.type == device
    _, theirs, recbole_valid, _ = prepare("BSARec", rule_data, train_on_device=False, **settings)
    assert type(theirs) is TrainDataLoader and type(recbole_valid) is FullSortEvalDataLoader
    their_batches = epochs_of(theirs, device=device)
    assert_same_batches(our_batches, their_batches)
    if loss == "BPR":
        assert "neg_item_id" in our_batches[0][0]
    assert len(our_batches[0][-1]["item_id"]) < 64  # a partial last batch, kept as RecBole has it


def test_generator_state_resumes(rule_data):
    """The shuffle draws from the loader's generator, so a restored generator state replays the same epoch."""
    _, loader, _, _ = prepare("BSARec", rule_data)
    state = loader.generator.get_state()
    first = epochs_of(loader, 1)
    loader.generator.set_state(state)
    assert_same_batches(epochs_of(loader, 1), first)


def test_evaluation_batches_and_histories(rule_data):
    """Full-sort batches, positives and history entries equal RecBole's loader and the per-user histories."""
    _, _, ours, _ = prepare("BSARec", rule_data)
    _, _, theirs, _ = prepare("BSARec", rule_data, train_on_device=False)
    for (our, _, our_u, our_i), (their, _, their_u, their_i) in zip(ours, theirs, strict=True):
        assert all(torch.equal(our[field], their[field]) for field in their.interaction)
        assert torch.equal(our_u, their_u) and torch.equal(our_i, their_i)
    history = ours._dataset.history
    users = their["user_id"]
    expected = [(row, item) for row, user in enumerate(users.tolist()) for item in history_of(ours, user)]
    rows, items = history.entries(users)
    assert list(zip(rows.tolist(), items.tolist(), strict=True)) == expected
    sequences = {1: [5, 6, 7, 8], 2: [9], 4: [1, 2, 3]}
    rows, items = UserHistory(sequences, 2).entries(torch.tensor([4, 1, 2, 3]))
    assert rows.tolist() == [0, 1, 1] and items.tolist() == [1, 5, 6]


def history_of(loader, user):
    """The items ``user`` had before the split's target: the whole sequence but its last ``offset``."""
    return loader._dataset._sequences[user][: -loader._dataset.history.offset].tolist()


@pytest.mark.parametrize("device", DEVICES)
def test_padded_last_batch_loss_and_gradients(rule_data, device):
    """The padded last batch has the batch size, and its loss and gradients are the unpadded batch's."""
    settings = {"train_batch_size": 64, "use_gpu": device == "cuda"}
    model, plain = make_model("BSARec", rule_data, hidden_dropout_prob=0.0, attn_dropout_prob=0.0, **settings)
    _, padded, _, _ = prepare("BSARec", rule_data, pad_last_batch=True, **settings)
    model = model.double().train()

    def loss_and_grads(batch):
        model.zero_grad()
        loss = model.calculate_loss(batch)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    unpadded_last, padded_last = list(plain)[-1], list(padded)[-1]
    assert len(unpadded_last) < 64 == len(padded_last)
    assert (padded_last["item_id"] == -100).sum() == 64 - len(unpadded_last)
    loss, grads = loss_and_grads(unpadded_last)
    padded_loss, padded_grads = loss_and_grads(padded_last)
    torch.testing.assert_close(padded_loss, loss, rtol=1e-12, atol=1e-15)
    for ours, theirs in zip(padded_grads, grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("model", "settings"), [("BSARec", {"loss_type": "BPR"}), ("DuoRec", {})])
def test_padding_refused_where_it_changes_the_loss(rule_data, model, settings):
    """Padding is refused for a pair-wise loss (padded rows would count) and for a model whose loss compares
    the rows of a batch (DuoRec's contrastive term), before any data is read."""
    from recbole_bsarec import pipeline

    with pytest.raises(ConfigError, match="pad_last_batch"):
        pipeline.build_config(model, "rule", [TINY], {"data_path": rule_data, "pad_last_batch": True, **settings})


def test_same_training_result_on_and_off(rule_data):
    """Two epochs of BSARec under the paper protocol end with the same test metrics either way."""
    from recbole_bsarec import pipeline

    results = [
        pipeline.run_recbole(
            "BSARec",
            "rule",
            [TINY, PAPER],
            {"data_path": rule_data, "epochs": 2, "train_on_device": on, "run_dir": f"run-{on}"},
            saved=False,
        )["test_result"]
        for on in (True, False)
    ]
    assert results[0] == results[1]
