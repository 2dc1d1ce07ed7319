"""FMLPRec and DuoRec, the two Table 2 baselines RecBole 1.2.1 lacks: their layers, losses and learning."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import N_ITEMS, TINY, make_model, prepare

from recbole_bsarec.model.bsarec import right_align
from recbole_bsarec.model.duorec import info_nce
from recbole_bsarec.model.fmlprec import LearnableFilter
from recbole_bsarec.pipeline import run_recbole, setup


def test_filter_with_unit_weight_is_the_identity_before_the_residual():
    layer = LearnableFilter(hidden_size=8, max_seq_length=10, hidden_dropout_prob=0.0, layer_norm_eps=1e-12).eval()
    with torch.no_grad():
        layer.complex_weight.zero_()
        layer.complex_weight[..., 0] = 1.0  # W = 1 + 0j at every frequency
    x = torch.randn(3, 10, 8)
    expected = F.layer_norm(2 * x, (8,), layer.LayerNorm.weight, layer.LayerNorm.bias, 1e-12)
    torch.testing.assert_close(layer(x), expected)


def test_filter_is_a_circular_convolution_along_the_sequence():
    """irfft(W * rfft(x)) is, per dimension, x convolved (circularly) with irfft(W): a global filter."""
    torch.manual_seed(0)
    layer = LearnableFilter(hidden_size=4, max_seq_length=8, hidden_dropout_prob=0.0, layer_norm_eps=1e-12).eval()
    x = torch.randn(2, 8, 4)
    kernel = torch.fft.irfft(torch.view_as_complex(layer.complex_weight)[0], n=8, dim=0, norm="ortho")
    conv = torch.stack([sum(kernel[j] * x[:, (t - j) % 8] for j in range(8)) / math.sqrt(8) for t in range(8)], dim=1)
    with torch.no_grad():
        expected = layer.LayerNorm(conv + x)
        torch.testing.assert_close(layer(x), expected, rtol=1e-4, atol=1e-5)


def test_fmlprec_left_padding_is_right_padding_of_the_aligned_sequence(rule_data):
    left, _ = make_model("FMLPRec", rule_data, padding_side="left")
    right, _ = make_model("FMLPRec", rule_data, padding_side="right")
    right.load_state_dict(left.state_dict())
    seq = torch.zeros(1, left.max_seq_length, dtype=torch.long)
    seq[0, :3] = torch.tensor([3, 4, 5])
    lengths = torch.tensor([3])
    with torch.no_grad():
        aligned = right(right_align(seq, lengths), torch.tensor([left.max_seq_length]))
        torch.testing.assert_close(left(seq, lengths), aligned)


def test_caser_left_pad_is_recboles_caser_on_the_right_aligned_window(rule_data):
    left, _ = make_model("CaserLeftPad", rule_data)
    caser, _ = make_model("Caser", rule_data)
    caser.load_state_dict(left.state_dict())
    seq = torch.zeros(2, left.max_seq_length, dtype=torch.long)
    seq[0, :3] = torch.tensor([3, 4, 5])
    seq[1] = torch.arange(1, left.max_seq_length + 1)
    user = torch.tensor([1, 2])
    with torch.no_grad():
        torch.testing.assert_close(left(user, seq), caser(user, right_align(seq, torch.tensor([3, 10]))))
        torch.testing.assert_close(left(user, seq)[1], caser(user, seq)[1])  # a full window is not moved
        assert not torch.allclose(left(user, seq)[0], caser(user, seq)[0])  # a short one is, and that changes it


@pytest.mark.parametrize(
    ("model", "parent", "expected"),
    [
        ("CaserLeftPad", "Caser", {"embedding_size": 64, "dropout_prob": 0.4, "reg_weight": 1e-4, "nv": 4, "nh": 8}),
        ("DuoRec", "SASRec", {"n_layers": 2, "inner_size": 256, "hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5}),
    ],
)
def test_a_subclass_of_a_recbole_model_inherits_its_yaml(rule_data, model, parent, expected):
    """RecBole reads only the yaml named after the model; the package's Config adds each ancestor's."""
    from recbole_bsarec.pipeline import build_config

    child = build_config(model, "rule", None, {"data_path": rule_data})
    assert {key: child[key] for key in expected} == expected
    assert {key: build_config(parent, "rule", None, {"data_path": rule_data})[key] for key in expected} == expected


def test_caser_left_pad_gets_casers_checks():
    from recbole_bsarec.model import CaserLeftPad
    from recbole_bsarec.model.builtin_checks import builtin_check, check_caser

    assert builtin_check(CaserLeftPad) is check_caser


def reference_info_nce(z_i, z_j, tau):
    """DuoRec's formulation: logits [positive, the 2B - 2 negatives], label 0."""
    batch = z_i.size(0)
    z = torch.cat([z_i, z_j])
    sim = z @ z.T / tau
    positives = torch.cat([torch.diag(sim, batch), torch.diag(sim, -batch)]).unsqueeze(1)
    mask = ~torch.eye(2 * batch, dtype=torch.bool)
    for i in range(batch):
        mask[i, batch + i] = mask[batch + i, i] = False
    negatives = sim[mask].view(2 * batch, -1)
    logits = torch.cat([positives, negatives], dim=1)
    return F.cross_entropy(logits, torch.zeros(2 * batch, dtype=torch.long))


def test_info_nce_equals_duorecs_positive_and_negatives_formulation():
    torch.manual_seed(0)
    z_i, z_j = torch.randn(6, 5), torch.randn(6, 5)
    torch.testing.assert_close(info_nce(z_i, z_j, 0.7, "dot"), reference_info_nce(z_i, z_j, 0.7))
    cos = reference_info_nce(F.normalize(z_i, dim=-1), F.normalize(z_j, dim=-1), 1.0)
    torch.testing.assert_close(info_nce(z_i, z_j, 1.0, "cos"), cos)


def test_supervised_positives_share_the_target_and_differ_from_the_sequence(rule_data):
    model, train = make_model("DuoRec", rule_data)
    batch = next(iter(train))
    targets, item_seq = batch[model.POS_ITEM_ID], batch[model.ITEM_SEQ]
    torch.manual_seed(0)
    seqs, lengths = model.same_target.sample(targets, item_seq)
    sampler = model.same_target
    chosen_targets = []
    data = train._dataset.inter_feat
    for seq, length in zip(seqs, lengths, strict=True):
        match = ((data[model.ITEM_SEQ] == seq).all(dim=1) & (data[model.ITEM_SEQ_LEN] == length)).nonzero()
        chosen_targets.append(data[model.ITEM_ID][match[0, 0]])
    assert torch.equal(torch.stack(chosen_targets), targets)
    several = sampler.count[targets] > 1
    assert several.any()
    assert ((seqs != item_seq).any(dim=1) | ~several).float().mean() > 0.9


def test_duorec_without_contrastive_weight_is_sasrecs_ce_loss(rule_data):
    duorec, train = make_model("DuoRec", rule_data, lmd_sem=0.0, hidden_dropout_prob=0.0, attn_dropout_prob=0.0)
    sasrec, _ = make_model("SASRec", rule_data, hidden_dropout_prob=0.0, attn_dropout_prob=0.0)
    sasrec.load_state_dict(duorec.state_dict())
    batch = next(iter(train))
    torch.testing.assert_close(duorec.calculate_loss(batch), sasrec.calculate_loss(batch))
    with_contrast, _ = make_model("DuoRec", rule_data, lmd_sem=0.5, hidden_dropout_prob=0.0, attn_dropout_prob=0.0)
    with_contrast.load_state_dict(duorec.state_dict())
    assert with_contrast.calculate_loss(batch) > duorec.calculate_loss(batch)


@pytest.mark.parametrize(
    ("model", "settings"), [("FMLPRec", {}), ("DuoRec", {}), ("CaserLeftPad", {"embedding_size": 16})]
)
def test_baseline_learns_a_next_item_rule_far_above_chance(rule_data, model, settings):
    _, trainer, (_, _, test_data) = setup(model, "rule", [TINY], {"data_path": rule_data, **settings})
    untrained = float(trainer.evaluate(test_data, load_best_model=False)["hit@10"])  # the same model, not trained
    result = run_recbole(model, "rule", [TINY], {"data_path": rule_data, "epochs": 25, "stopping_step": 25, **settings})
    trained = result["test_result"]["hit@10"]
    assert untrained < 2 * 10 / N_ITEMS  # about what a random ranking of the 40 items gets at 10 (0.25)
    assert trained >= 0.9 and trained - untrained >= 0.5


@pytest.mark.parametrize(
    ("model", "setting", "message"),
    [
        ("DuoRec", {"contrast": "both"}, "contrast='both' is unknown"),
        ("DuoRec", {"tau": 0}, "tau=0 is not a positive temperature"),
        ("DuoRec", {"loss_type": "BPR"}, "DuoRec trains with CE"),
        ("FMLPRec", {"padding_side": "middle"}, "padding_side='middle' is unknown"),
        ("FMLPRec", {"hidden_dropout_prob": 1.0}, "hidden_dropout_prob=1.0 is outside [0, 1)"),
    ],
)
def test_impossible_settings_are_named(rule_data, model, setting, message):
    from recbole_bsarec.errors import ConfigError
    from recbole_bsarec.pipeline import build_config

    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        build_config(model, "rule", [TINY], {"data_path": rule_data, **setting})


def test_fearec_is_configured_as_its_paper_trains_it(rule_data):
    from recbole_bsarec.pipeline import build_config

    config = build_config("FEARec", "rule", None, {"data_path": rule_data})
    expected = {"contrast": "us_x", "tau": 1.0, "sim": "dot", "lmd_sem": 0.1, "fredom": True, "fredom_type": "us_x"}
    expected |= {"global_ratio": 0.6, "dual_domain": True, "spatial_ratio": 0.1, "std": True, "topk_factor": 10}
    assert {key: config[key] for key in expected} == expected


def test_fearec_delays_that_do_not_fit_the_window_are_named(rule_data):
    from recbole_bsarec.errors import ConfigError
    from recbole_bsarec.pipeline import build_config

    with pytest.raises(ConfigError, match=r"topk_factor=10 keeps 23 time delays of MAX_ITEM_LIST_LENGTH=10"):
        build_config("FEARec", "rule", [TINY], {"data_path": rule_data})
    build_config("FEARec", "rule", [TINY], {"data_path": rule_data, "topk_factor": 4})  # int(4 ln 10) = 9 fits


@pytest.mark.parametrize("phase", ["training", "inference"])
def test_fearec_delay_sum_is_recboles_loop(phase):
    """One batched matmul gives the sum of RecBole's top-k rolled copies, and the same gradients."""
    from recbole.model.sequential_recommender import fearec as recbole_fearec

    from recbole_bsarec.model import fearec

    torch.manual_seed(0)
    values = torch.randn(6, 2, 4, 50, dtype=torch.float64, requires_grad=True)
    corr = torch.randn(6, 2, 4, 50, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(6, 2, 4, 50, dtype=torch.float64)

    class Delays(fearec.HybridAttention):
        """Only the delay sums; factor 10 keeps 39 delays of 50, as FEARec.yaml on LastFM."""

        def __init__(self):
            self.factor = 10

    outputs = []
    for cls in (recbole_fearec.HybridAttention, fearec.HybridAttention):
        out = getattr(cls, f"time_delay_agg_{phase}")(Delays(), values, corr)
        outputs.append((out, *torch.autograd.grad((out * probe).sum(), (values, corr))))
    for theirs, ours in zip(*outputs, strict=True):
        torch.testing.assert_close(ours, theirs)


def test_fearec_is_recboles_with_the_same_seed(rule_data, capsys):
    """Same initial weights, loss, gradients and scores as RecBole's FEARec: only the delay sum is rewritten.
    (Without ``fredom``: its |.| has a kink at 0, where float rounding can flip a gradient's sign.)"""
    from recbole.model.sequential_recommender.fearec import FEARec as RecBoleFEARec
    from recbole.utils import init_seed

    from recbole_bsarec.model import fearec
    from recbole_bsarec.model.fearec import FEARec

    config, train, _, _ = prepare("FEARec", rule_data, topk_factor=4, fredom=False)
    assert config.model_class is FEARec
    models, draws, printed = [], [], []
    for cls in (RecBoleFEARec, FEARec):
        init_seed(config["seed"], True)
        capsys.readouterr()
        models.append(cls(config, train._dataset))
        draws.append(torch.rand(3))  # the random stream after building the model
        printed.append(capsys.readouterr().out)  # RecBole's blocks print their global_ratio check
    theirs, ours = models
    assert printed[0] and printed[1] == printed[0]
    assert all(isinstance(block, fearec.FEABlock) for block in ours.item_encoder.layer)
    assert torch.equal(draws[0], draws[1])
    for (name, a), (_, b) in zip(theirs.state_dict().items(), ours.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    batch = next(iter(train))
    losses = []
    for model in models:
        init_seed(config["seed"], True)
        loss = model.train().calculate_loss(batch)
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[1], losses[0])
    for (name, a), (_, b) in zip(theirs.named_parameters(), ours.named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval().full_sort_predict(batch), theirs.eval().full_sort_predict(batch))


@pytest.mark.parametrize(
    ("device", "reproducibility", "warned"), [("cuda", True, True), ("cuda", False, False), ("cpu", True, False)]
)
def test_caser_on_a_gpu_with_deterministic_convolutions_is_named_as_slow(
    rule_data, caplog, device, reproducibility, warned
):
    from recbole_bsarec.model.builtin_checks import CHECKS
    from recbole_bsarec.pipeline import build_config

    config = build_config("Caser", "rule", [TINY], {"data_path": rule_data, "reproducibility": reproducibility})
    config["device"] = torch.device(device)  # this machine has no GPU: the check reads only the configured device
    CHECKS["Caser"](config)
    assert ("--reproducibility=False is faster" in caplog.text) is warned
