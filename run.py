"""Train and evaluate a model: python run.py --model=BSARec --dataset=ml-1m [--key=value ...]."""

import sys

from recbole_bsarec.cli import main

if __name__ == "__main__":
    sys.exit(main())
