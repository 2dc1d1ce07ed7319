"""Name lookups, as RecBole-GNN does them: this package's models and trainers first, then RecBole's."""

import difflib
import functools
import importlib
from importlib import resources

from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_bsarec import compat  # noqa: F401  (undo recbole's import-time anomaly detection)
from recbole_bsarec import model as models
from recbole_bsarec import trainer as trainers
from recbole_bsarec.errors import ConfigError

MODELS = {name: getattr(models, name) for name in models.__all__}


@functools.cache
def recbole_model_names():
    """RecBole's model names (by module file), found without importing its optional-dependency models."""
    names = {}
    for package in resources.files("recbole.model").iterdir():
        if package.is_dir() and package.name.endswith("_recommender"):
            for module in package.iterdir():
                if module.name.endswith(".py") and not module.name.startswith("_"):
                    names[module.name[:-3]] = package.name
    return names


def recbole_class_name(name):
    """RecBole's spelling of a model name given in any case (its module is the lower-cased name)."""
    package = recbole_model_names()[name.lower()]
    module = importlib.import_module(f"recbole.model.{package}.{name.lower()}")
    return next((attr for attr in dir(module) if attr.lower() == name.lower()), None)


def get_model(name):
    """The model class called ``name``: one of ours, else RecBole's built-in of that name."""
    if name in MODELS:
        return MODELS[name]
    if name.lower() in recbole_model_names():
        try:
            return recbole_get_model(name)
        except ImportError as err:
            raise ConfigError(f"model '{name}' needs the package '{err.name}': pip install {err.name}") from err
        except AttributeError:
            pass
    candidates = {n.lower(): n for n in MODELS} | {n: n for n in recbole_model_names()}
    close = difflib.get_close_matches(name.lower(), list(candidates), n=1)
    suggestion = None
    if close:
        suggestion = candidates[close[0]] if close[0] not in recbole_model_names() else recbole_class_name(close[0])
    hint = f" (did you mean {suggestion}?)" if suggestion else ""
    known = ", ".join(dict.fromkeys([*MODELS, "GRU4Rec", "BERT4Rec"]))
    raise ConfigError(
        f"unknown model '{name}'{hint}: use one of {known} or another RecBole model, spelled as its class"
    )


def get_trainer(model_type, model_name):
    """The trainer of ``model_name``: this package's ``<model_name>Trainer`` if it has one, else its subclass of the
    RecBole trainer RecBole would use (``Trainer`` for sequential models). A model whose RecBole trainer it does not
    extend (its own pre-training or fitting loop) is a ConfigError."""
    own = getattr(trainers, f"{model_name}Trainer", None)
    if own is not None:
        return own
    base = recbole_get_trainer(model_type, model_name)
    ours = getattr(trainers, base.__name__, None)
    if ours is None or base not in ours.__mro__:
        raise ConfigError(
            f"model '{model_name}' trains with RecBole's {base.__name__}, which recbole-bsarec does not extend: "
            "run it with recbole.quick_start.run_recbole"
        )
    return ours
