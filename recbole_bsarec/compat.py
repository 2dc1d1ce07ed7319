"""Process-wide side effects of recbole 1.2.1 that this package undoes, each with its reason.

Importing any of RecBole's sequential models imports the whole ``recbole.model.sequential_recommender``
package, and its ``sine.py`` calls ``torch.autograd.set_detect_anomaly(True)`` at import time: every
later training step in the process then records stack traces (measured here: 5x slower epochs).
Importing the package once, here, and switching anomaly detection back off keeps every model,
ours and RecBole's, on the normal autograd path.
"""

import recbole.model.sequential_recommender  # noqa: F401  (the import that enables anomaly detection)
import torch

torch.autograd.set_detect_anomaly(False)
