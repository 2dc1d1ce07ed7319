"""The compare command: models x datasets x seeds under one protocol, resumable, summarised as the paper's
Table 2 (mean and standard deviation over seeds, best marked, improvement, a paired test over users)."""
