"""Search spaces from yaml: ``key: {choice: [...]}``, ``{uniform: [lo, hi]}``, ``{loguniform: [lo, hi]}``,
``{randint: [lo, hi]}`` (hi excluded), turned into Ray Tune's sampling domains or an exhaustive grid."""

import yaml
from ray import tune

from recbole_bsarec.errors import UsageError

KINDS = {"choice", "uniform", "loguniform", "randint"}


def load_space(path):
    """The yaml at ``path`` as {key: (kind, values)}, validated; a bad file is a UsageError naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except OSError as err:
        raise UsageError(f"search space '{path}' cannot be read ({err.strerror}): check --search") from err
    except yaml.YAMLError as err:
        raise UsageError(f"search space '{path}' is not valid yaml: {' '.join(str(err).split())}") from err
    if not isinstance(raw, dict) or not raw:
        raise UsageError(f"search space '{path}' must map keys to domains, e.g. 'alpha: {{choice: [0.1, 0.5]}}'")
    space = {}
    for key, domain in raw.items():
        where = f"search space '{path}', key '{key}'"
        if not isinstance(domain, dict) or len(domain) != 1 or next(iter(domain)) not in KINDS:
            raise UsageError(f"{where}: give one of {sorted(KINDS)}, e.g. {{choice: [1, 2]}}")
        kind, values = next(iter(domain.items()))
        if not isinstance(values, list) or not values:
            raise UsageError(f"{where}: {kind} needs a non-empty list")
        if kind != "choice":
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            if len(values) != 2 or not numbers or values[0] >= values[1]:
                raise UsageError(f"{where}: {kind} needs [low, high] with low < high")
            if kind == "loguniform" and values[0] <= 0:
                raise UsageError(f"{where}: loguniform needs a positive low end")
            if kind == "randint" and not all(isinstance(v, int) for v in values):
                raise UsageError(f"{where}: randint needs integer ends")
        space[key] = (kind, values)
    return space


def param_space(space, algo):
    """Ray Tune's param_space: sampling domains for hyperopt, ``grid_search`` lists for the grid."""
    if algo == "grid":
        continuous = [key for key, (kind, _) in space.items() if kind != "choice"]
        if continuous:
            raise UsageError(f"--algo=grid needs 'choice' domains only; {', '.join(continuous)} is continuous")
        return {key: tune.grid_search(values) for key, (_, values) in space.items()}
    ranges = {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}
    return {
        key: tune.choice(values) if kind == "choice" else ranges[kind](*values) for key, (kind, values) in space.items()
    }


def corners(space):
    """One configuration per value of each choice and per range end, the rest at their first value:
    enough to check every value against the model before any trial starts."""
    first = {key: values[0] for key, (_, values) in space.items()}
    for key, (kind, values) in space.items():
        ends = values if kind == "choice" else [values[0], values[1] - 1 if kind == "randint" else values[1]]
        for value in ends:
            yield {**first, key: value}
