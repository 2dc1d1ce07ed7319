"""Dataset yaml: ml-1m's paper preprocessing (5-core users and items, time order)."""

import numpy as np
from recbole.data import create_dataset

from recbole_bsarec.pipeline import build_config


def write_ml1m_like(root, seed=0):
    """RecBole's ml-1m atomic layout (with ratings) holding users and items below and above 5-core."""
    rng = np.random.default_rng(seed)
    folder = root / "ml-1m"
    folder.mkdir(parents=True)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(1, 61):
        count = 3 if user <= 10 else 12  # users 1-10 fall below 5 interactions
        for step, item in enumerate(rng.choice(30, size=count, replace=False) + 1):
            lines.append(f"{user}\t{item}\t{rng.integers(1, 6)}\t{1000 * user + step}")
    lines += [f"{user}\t{900 + user}\t5\t{10**7 + user}" for user in range(11, 14)]  # items seen 1x
    (folder / "ml-1m.inter").write_text("\n".join(lines) + "\n")


def test_ml1m_yaml_keeps_5_core_users_and_items_and_drops_ratings(tmp_path):
    write_ml1m_like(tmp_path)
    config = build_config("BSARec", "ml-1m", config_dict={"data_path": str(tmp_path), "state": "WARNING"})
    data = create_dataset(config)
    inter = data.inter_feat
    users, user_counts = np.unique(np.asarray(inter[data.uid_field]), return_counts=True)
    _, item_counts = np.unique(np.asarray(inter[data.iid_field]), return_counts=True)
    assert user_counts.min() >= 5 and item_counts.min() >= 5
    assert len(users) == 50
    assert "rating" not in inter.columns
