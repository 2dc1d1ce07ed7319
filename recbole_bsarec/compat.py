"""Process-wide behaviours of recbole 1.2.1 that this package changes, each with its reason.

Importing any of RecBole's sequential models imports the whole ``recbole.model.sequential_recommender``
package, and its ``sine.py`` calls ``torch.autograd.set_detect_anomaly(True)`` at import time: every
later training step in the process then records stack traces (measured here: 5x slower epochs).
Importing the package once, here, and switching anomaly detection back off keeps every model,
ours and RecBole's, on the normal autograd path.
"""

import os

import recbole.model.sequential_recommender  # noqa: F401  (the import that enables anomaly detection)
import recbole.trainer.trainer
import torch

torch.autograd.set_detect_anomaly(False)


def tensorboard_in_run_dir(logger):
    """RecBole's trainers write TensorBoard events under ``./log_tensorboard/``; they go to the run's folder
    (``<run_dir>/tensorboard``), beside its log, so one folder holds the whole run."""
    from torch.utils.tensorboard import SummaryWriter

    from recbole_bsarec.runlog import log_file

    if log_file() is None:
        return recbole_get_tensorboard(logger)
    return SummaryWriter(os.path.join(os.path.dirname(log_file()), "tensorboard"))


recbole_get_tensorboard = recbole.trainer.trainer.get_tensorboard
recbole.trainer.trainer.get_tensorboard = tensorboard_in_run_dir
