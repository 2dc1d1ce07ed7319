"""RecBole's SASRec with ``loss_type: BCE`` added (the reference code's SASRec loss); CE and BPR unchanged."""

from recbole.model.sequential_recommender.sasrec import SASRec as RecBoleSASRec

from recbole_bsarec.model.losses import SampledBCEMixin


class SASRec(SampledBCEMixin, RecBoleSASRec):
    """RecBole's SASRec: same layers, yaml and initialisation; ``loss_type`` CE, BPR or BCE."""

    ROW_WISE_CE = True  # under CE, the loss is a mean of one term per sample (``pad_last_batch`` may pad)
