"""Process-wide behaviours of recbole 1.2.1 that this package changes, each with its reason.

Importing any of RecBole's sequential models imports the whole ``recbole.model.sequential_recommender``
package, and its ``sine.py`` calls ``torch.autograd.set_detect_anomaly(True)`` at import time: every
later training step in the process then records stack traces (measured here: 5x slower epochs).
Importing the package once, here, and switching anomaly detection back off keeps every model,
ours and RecBole's, on the normal autograd path.

RecBole's ``Dataset._fill_nan`` fills missing values with ``feat[field].fillna(..., inplace=True)``; pandas 2
warns (FutureWarning, 14 lines per run, before the results or a one-line error) that such chained in-place
calls stop working in pandas 3. With the pinned pandas 2 they work, so that warning, from that module only,
is silenced. Likewise ray 2.6.3's ``import pkg_resources`` (setuptools < 81 is pinned for it), whose deprecation
warning would stand above a search's one-line error.
"""

import os
import warnings

import recbole.model.sequential_recommender  # noqa: F401  (the import that enables anomaly detection)
import recbole.trainer.trainer
import torch

torch.autograd.set_detect_anomaly(False)
warnings.filterwarnings(
    "ignore",
    message="A value is trying to be set on a copy of a DataFrame or Series through chained assignment",
    category=FutureWarning,
    module=r"recbole\.data\.dataset\.dataset\Z",  # _fill_nan's chained fillna(inplace=True): works in pandas 2
)
warnings.filterwarnings("ignore", message="pkg_resources is deprecated as an API", category=UserWarning)
# RecBole's trainer builds torch.cuda.amp.GradScaler (disabled unless enable_scaler): torch 2.4+ says it is deprecated
warnings.filterwarnings("ignore", message=r"`torch\.cuda\.amp\.GradScaler", category=FutureWarning)


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
