"""What a trained model learned, and recommendations from it: every command starts from a checkpoint.

Each sub-command module has ``register(subparsers)``, which adds its parser and sets ``run(args)``: a
generator of the lines to print (paths written, tables). ``__main__`` lists them in ``SUBCOMMANDS``.
"""

import importlib

NAMES = ["representations", "recommend", "sensitivity"]
SUBCOMMANDS = []
for _name in NAMES:
    try:
        SUBCOMMANDS.append(importlib.import_module(f"recbole_bsarec.analysis.{_name}"))
    except ModuleNotFoundError as _err:
        if _err.name != f"recbole_bsarec.analysis.{_name}":
            raise
