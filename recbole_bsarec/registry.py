"""Name lookups: this package's models first, then RecBole's; trainers with safe checkpoints."""

import difflib
import functools
import importlib
from importlib import resources

from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_bsarec import compat  # noqa: F401  (undo recbole's import-time anomaly detection)
from recbole_bsarec import model as models
from recbole_bsarec.errors import ConfigError
from recbole_bsarec.trainer import CompiledLossMixin, HistoryMaskMixin, SafeCheckpointMixin

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
    known = ", ".join(list(MODELS) + ["SASRec", "GRU4Rec", "BERT4Rec", "Caser"])
    raise ConfigError(
        f"unknown model '{name}'{hint}: use one of {known} or another RecBole model, spelled as its class"
    )


@functools.cache
def get_trainer(model_type, model_name):
    """RecBole's trainer for this model, with checkpoints that are atomic and load with weights_only, and
    the optional ``torch_compile`` of the training loss and ``eval_history_mask``."""
    trainer_class = recbole_get_trainer(model_type, model_name)
    mixins = (SafeCheckpointMixin, CompiledLossMixin, HistoryMaskMixin)
    return type(trainer_class.__name__, (*mixins, trainer_class), {})
