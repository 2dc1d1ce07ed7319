"""RecBole's Caser with the reference code's loss added, and Caser as the BSARec reference code feeds it: the
window padded on the left, so the most recent items always sit at its last positions. RecBole pads on the right;
Caser's vertical convolution has one weight per window position, so where the items sit changes what it learns
(docs/RESULTS.md, Caser against its paper row)."""

from recbole.model.sequential_recommender.caser import Caser as RecBoleCaser

from recbole_bsarec.model.bsarec import right_align
from recbole_bsarec.model.losses import SampledBCEMixin


class Caser(SampledBCEMixin, RecBoleCaser):
    """RecBole's Caser with ``loss_type: BCE`` added (the reference code's Caser loss), its L2 terms kept."""

    ROW_WISE_CE = True  # under CE, the loss is a mean of one term per sample plus L2 (``pad_last_batch`` may pad)


class CaserLeftPad(Caser):
    """RecBole's Caser (same layers, yaml and loss) on left-padded windows; item id 0 is RecBole's padding, so a
    row's length is its count of non-zero ids."""

    def forward(self, user, item_seq):
        return super().forward(user, right_align(item_seq, item_seq.gt(0).sum(dim=1)))
