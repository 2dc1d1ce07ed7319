"""What a trained model learned, and recommendations from it: every command starts from a checkpoint.

Each sub-command module has ``register(subparsers)``, which adds its parsers and sets ``run(args)``: a
generator of the lines to print (paths written, tables). ``__main__`` registers the modules listed here.
"""

from recbole_bsarec.analysis import recommend, representations, sensitivity

SUBCOMMANDS = [representations, recommend, sensitivity]
