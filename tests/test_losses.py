"""loss_type BCE (the reference code's SASRec, Caser and FMLP-Rec loss) against a hand computation, and the
paper-losses preset giving each model the loss the reference code trained it with."""

import math

import pytest
import torch
from conftest import TINY, prepare

from recbole_bsarec.errors import ConfigError
from recbole_bsarec.model.losses import SampledBCELoss
from recbole_bsarec.pipeline import build_config, build_model

PRESET = ["properties/protocol/paper.yaml", "properties/protocol/paper-losses.yaml"]


def test_sampled_bce_loss_by_hand():
    pos, neg = torch.tensor([0.0, 2.0]), torch.tensor([1.0, -1.0])
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = (
        -(math.log(sigmoid(0)) + math.log(sigmoid(2))) / 2 - (math.log(1 - sigmoid(1)) + math.log(1 - sigmoid(-1))) / 2
    )
    assert SampledBCELoss()(pos, neg).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("model", ["SASRec", "Caser", "FMLPRec"])
def test_bce_scores_the_target_against_one_sampled_negative(rule_data, model):
    extra = {"embedding_size": 16} if model == "Caser" else {}
    config, train, _, _ = prepare(model, rule_data, loss_type="BCE", **extra)
    assert config["train_neg_sample_args"]["sample_num"] == 1
    torch.manual_seed(0)
    net = build_model(config, train).double().eval()  # no dropout: the loss is a function of the batch
    batch = next(iter(train)).to(config["device"])
    assert net.NEG_ITEM_ID in batch and (batch[net.NEG_ITEM_ID] != batch[net.POS_ITEM_ID]).all()
    if model == "Caser":
        seq = net.forward(batch[net.USER_ID], batch[net.ITEM_SEQ])
    else:
        seq = net.forward(batch[net.ITEM_SEQ], batch[net.ITEM_SEQ_LEN])
    pos = (seq * net.item_embedding(batch[net.POS_ITEM_ID])).sum(-1)
    neg = (seq * net.item_embedding(batch[net.NEG_ITEM_ID])).sum(-1)
    by_hand = -torch.log(torch.sigmoid(pos)).mean() - torch.log(1 - torch.sigmoid(neg)).mean()
    if model == "Caser":  # Caser keeps its L2 terms whatever the loss
        weights = [net.user_embedding.weight, net.item_embedding.weight, net.conv_v.weight, net.fc1.weight]
        by_hand = by_hand + net.reg_weight * net.reg_loss([*weights, net.fc2.weight]) + net.reg_loss_conv_h()
    assert net.calculate_loss(batch).item() == pytest.approx(by_hand.item(), rel=1e-10)


def test_bce_sasrec_starts_from_the_weights_of_ce_sasrec(rule_data):
    weights = {}
    for loss in ("CE", "BCE"):
        config, train, _, _ = prepare("SASRec", rule_data, loss_type=loss)
        weights[loss] = build_model(config, train).state_dict()
    assert weights["CE"].keys() == weights["BCE"].keys()
    assert all(torch.equal(weights["CE"][key], weights["BCE"][key]) for key in weights["CE"])


LOSSES = {
    "SASRec": "BCE", "Caser": "BCE", "CaserLeftPad": "BCE", "FMLPRec": "BCE", "GRU4Rec": "BPR",
    "BERT4Rec": "CE", "DuoRec": "CE", "FEARec": "CE", "BSARec": "CE",
}  # fmt: skip


@pytest.mark.parametrize("model", sorted(LOSSES))
def test_paper_losses_preset_gives_each_model_the_reference_codes_loss(rule_data, model):
    settings = {"data_path": rule_data, **({"topk_factor": 1} if model == "FEARec" else {})}  # the tiny window
    assert build_config(model, "rule", [TINY, *PRESET], settings)["loss_type"] == LOSSES[model]
    assert build_config(model, "rule", [TINY, PRESET[0]], settings)["loss_type"] == "CE"


def test_settings_given_directly_win_over_the_preset(rule_data):
    config = build_config("SASRec", "rule", [TINY, *PRESET], {"data_path": rule_data}, ["--loss_type=CE"])
    assert config["loss_type"] == "CE" and config["train_neg_sample_args"]["distribution"] == "none"


def test_model_config_naming_no_model_is_refused(rule_data, tmp_path):
    preset = tmp_path / "typo.yaml"
    preset.write_text("model_config:\n  SASrec: {loss_type: BCE}\n")
    with pytest.raises(ConfigError, match="typo.yaml: model_config names unknown model 'SASrec'"):
        build_config("SASRec", "rule", [TINY, str(preset)], {"data_path": rule_data})


def test_bce_on_a_model_without_it_is_refused(rule_data):
    with pytest.raises(ConfigError, match="loss_type"):
        build_config("GRU4Rec", "rule", [TINY], {"data_path": rule_data, "loss_type": "BCE"})
