"""BSARec (beyond self-attention sequential recommendation) as a RecBole plugin."""

__version__ = "0.1.0"
