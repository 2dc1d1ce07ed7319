"""RecBole's Config with this package's models and yaml: RecBole's defaults, then ours, then the user's."""

import os
from pathlib import Path

import recbole
import yaml
from recbole.config import Config as RecBoleConfig
from recbole.utils import InputType

from recbole_bsarec.data.source import check_dataset_name
from recbole_bsarec.errors import ConfigError, UsageError
from recbole_bsarec.registry import get_model
from recbole_bsarec.settings import PATH_KEYS, check_settings


def properties_dir():
    """The yaml defaults: inside the installed package, or the repository's top-level folder."""
    package = Path(__file__).resolve().parent
    installed = package / "properties"
    return installed if installed.is_dir() else package.parent / "properties"


PROPERTIES = properties_dir()
RECBOLE_MODEL_YAML = Path(recbole.__file__).resolve().parent / "properties" / "model"


def packaged(file):
    """``file``, or the package's own copy of a ``properties/...`` path that is not on disk."""
    inside = PROPERTIES.parent / file
    if not os.path.isfile(file) and Path(file).parts[:1] == ("properties",) and inside.is_file():
        return str(inside)
    return file


BPR_NEGATIVES = {"distribution": "uniform", "sample_num": 1, "alpha": 1.0, "dynamic": False, "candidate_num": 0}


class Config(RecBoleConfig):
    """Layers ``properties/`` over RecBole's defaults and resolves this package's model names.

    Order: RecBole's yaml (with its model yaml for each ancestor: CaserLeftPad gets Caser.yaml), our
    overall.yaml, the yaml of each class in the model's ancestry (an ablation inherits BSARec.yaml), our
    dataset yaml and its ``model_config`` section for those classes (e.g. the paper's best BSARec
    hyperparameters on that dataset), then config files, dict and ``cmd_args``. A config file given as
    ``properties/...`` that is not on disk is looked up among the package's own yaml (so
    ``--config_files=properties/protocol/paper.yaml`` works from anywhere).

    ``cmd_args`` are RecBole-style ``--key=value`` overrides (highest priority); unlike RecBole,
    they are passed in rather than read from ``sys.argv``, so library callers are not affected by
    their own process's arguments.
    """

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, cmd_args=()):
        self._cmd_args = list(cmd_args)
        self.raw_args, self.file_of, self.ignored_keys = {}, {}, set()
        config_file_list = [packaged(file) for file in config_file_list or []]
        for file in config_file_list:
            if not os.path.isfile(file):
                raise UsageError(f"config file '{file}' does not exist: check --config_files")
        try:
            super().__init__(model, dataset, config_file_list, config_dict)
        except (ValueError, KeyError, TypeError, NotImplementedError) as err:
            raise ConfigError(f"invalid configuration: {err}") from err

    def given_settings(self):
        """The settings the user gave that this model reads (not other models' keys of a shared config file)."""
        return {key: value for key, value in self.external_config_dict.items() if key not in self.ignored_keys}

    def _load_config_files(self, file_list):
        """RecBole's merge of the config files, each of which must map setting names to values."""
        merged = {}
        for file in file_list or []:
            with open(file, encoding="utf-8") as handle:
                try:
                    loaded = yaml.load(handle.read(), Loader=self.yaml_loader)
                except yaml.YAMLError as err:
                    raise UsageError(f"config file '{file}' is not valid yaml: {' '.join(str(err).split())}") from err
            if not isinstance(loaded, dict) or not loaded:
                kind = "nothing" if loaded in (None, {}) else "a list" if isinstance(loaded, list) else "one value"
                raise UsageError(
                    f"config file '{file}' holds {kind}, not settings: write 'key: value' lines, e.g. 'epochs: 10'"
                )
            merged.update(loaded)
            self.file_of.update(dict.fromkeys(loaded, file))
        return merged

    def _load_cmd_line(self):
        """``--key=value`` arguments as RecBole converts them; a path keeps the text given."""
        cmd_config_dict = {}
        for arg in self._cmd_args:
            key, sep, value = arg[2:].partition("=")
            if not arg.startswith("--") or not sep or not key:
                raise UsageError(f"argument '{arg}' is not of the form --key=value (e.g. --epochs=10)")
            if key in cmd_config_dict and cmd_config_dict[key] != value:
                raise UsageError(f"--{key} is given twice with different values")
            cmd_config_dict[key] = value
        self.raw_args = dict(cmd_config_dict)
        paths = {key: value for key, value in cmd_config_dict.items() if key in PATH_KEYS}
        return {**self._convert_config_dict(cmd_config_dict), **paths}

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
        if model is None:
            raise UsageError("no model given: pass --model=NAME (e.g. --model=BSARec)")
        if isinstance(model, str):
            model = get_model(model)
        if dataset is None:
            dataset = self.external_config_dict.get("dataset")
        if dataset is None:
            raise UsageError("no dataset given: pass --dataset=NAME (e.g. --dataset=ml-100k)")
        check_dataset_name(str(dataset))  # before RecBole looks for properties/dataset/<dataset>.yaml
        self._apply_model_sections(model)
        return model.__name__, model, dataset

    def _apply_model_sections(self, model_class):
        """A config file's ``model_config``: settings per model name, each applying to the model of exactly that
        name (DuoRec extends SASRec but trains its own way), over the files' other keys and under ``config_dict``
        and ``cmd_args``. One file can so hold a comparison's per-model settings (properties/protocol/
        paper-losses.yaml: each baseline's loss)."""
        sections = self.external_config_dict.pop("model_config", None)
        if sections is None:
            return
        where = self.file_of.get("model_config", "config_dict")
        if not isinstance(sections, dict) or not all(isinstance(value, dict) for value in sections.values()):
            raise ConfigError(f"{where}: model_config must map model names to settings, e.g. SASRec: {{epochs: 5}}")
        for name in sections:
            try:
                get_model(str(name))
            except ConfigError as err:
                raise ConfigError(f"{where}: model_config names {err}") from err
        for key, value in sections.get(model_class.__name__, {}).items():
            if key not in self.variable_config_dict and key not in self.cmd_config_dict:
                self.external_config_dict[key] = value
                self.file_of[key] = where

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        ancestry = list(reversed(model_class.__mro__))
        inherited = [RECBOLE_MODEL_YAML / f"{cls.__name__}.yaml" for cls in ancestry[:-1]]
        model_files = [PROPERTIES / "model" / f"{cls.__name__}.yaml" for cls in ancestry]
        dataset_file = PROPERTIES / "dataset" / f"{dataset}.yaml"
        for file in [*inherited, PROPERTIES / "overall.yaml", *model_files, dataset_file]:
            if file.is_file():
                config_dict = self._update_internal_config_dict(file) or {}
                if file == dataset_file:
                    new = [k for k in config_dict if k not in self.parameters["Dataset"] and k != "model_config"]
                    self.parameters["Dataset"] += new
        per_model = self.internal_config_dict.pop("model_config", None) or {}
        for cls in reversed(model_class.__mro__):
            self.internal_config_dict.update(per_model.get(cls.__name__, {}))

    def _get_final_config_dict(self):
        final_config_dict = super()._get_final_config_dict()
        check_settings(self, final_config_dict)
        for key, value in getattr(self.model_class, "fixed_config", {}).items():
            given = self.external_config_dict.get(key, value)
            if given != value:
                raise ConfigError(
                    f"{key}={given!r} contradicts {self.model}, which fixes {key}={value!r}: drop --{key} or use BSARec"
                )
            final_config_dict[key] = value
        pairwise = getattr(self.model_class, "input_type", None) == InputType.PAIRWISE
        pairwise = pairwise or final_config_dict.get("loss_type") == "BPR" or self._sampled_bce(final_config_dict)
        if pairwise and final_config_dict.get("train_neg_sample_args") is None:
            final_config_dict["train_neg_sample_args"] = dict(BPR_NEGATIVES)
        return final_config_dict

    def _sampled_bce(self, settings):
        """True for loss_type BCE on a model that scores it on one sampled negative (recbole_bsarec.model.losses)."""
        return settings.get("loss_type") == "BCE" and "BCE" in getattr(self.model_class, "LOSS_TYPES", ())

    def _set_default_parameters(self):
        """RecBole's; a sampled BCE loss reads pairs (target, negative), as BPR does."""
        super()._set_default_parameters()
        if self._sampled_bce(self.final_config_dict):
            self.final_config_dict["MODEL_INPUT_TYPE"] = InputType.PAIRWISE
