"""This package's trainers: RecBole's, subclassed, with checkpoints that are atomic and load with weights_only,
exact resume, the optional ``torch_compile`` of the training step, ``stopping_rule`` and, for sequential models,
``eval_history_mask``.
``registry.get_trainer`` picks the one named as the RecBole trainer a model uses."""

import math
import os

import torch
from recbole import trainer as recbole_trainer
from recbole.evaluator import Evaluator
from recbole.evaluator.base_metric import TopkMetric
from recbole.utils import set_color
from torch.nn.utils import clip_grad_norm_
from tqdm import tqdm

from recbole_bsarec.checkpoint import atomic_save, load_checkpoint, plain_config, plain_values
from recbole_bsarec.data.history import mask_scores
from recbole_bsarec.data.protocol import ProtocolDatasetMixin
from recbole_bsarec.data.source import fingerprint
from recbole_bsarec.errors import ConfigError, UsageError
from recbole_bsarec.rng import rng_state, set_rng_state
from recbole_bsarec.rundir import BEST, LAST


class SafeCheckpointMixin:
    """Saves RecBole's checkpoint fields with the config as plain values, so torch>=2.6 loads them
    with weights_only=True (RecBole pickles its Config object), and writes them atomically."""

    _resume_rng = None
    last_epoch = -1  # the last epoch validated (and checkpointed) so far

    def __init__(self, config, model):
        super().__init__(config, model)
        self.saved_model_file = os.path.join(self.checkpoint_dir, BEST)
        self.data_fingerprint = fingerprint(config["data_path"], config["dataset"])

    def _valid_epoch(self, valid_data, show_progress=False):
        """RecBole's validation, remembered: RecBole saves a new best checkpoint before it records the result."""
        valid_score, self._valid_result = super()._valid_epoch(valid_data, show_progress=show_progress)
        return valid_score, self._valid_result

    def _state(self, epoch):
        """What a checkpoint holds: weights, optimizer, epoch, early-stopping state, the configuration and the
        sha256 of the data's atomic files."""
        return {
            "config": plain_config(self.config),
            "external_config": plain_values(self.config.given_settings()),
            "data": self.data_fingerprint,
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": float(self.best_valid_score),
            "best_valid_result": {k: float(v) for k, v in getattr(self, "_valid_result", {}).items()},
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict(),
        }

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        atomic_save(self._state(epoch), saved_model_file)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        """RecBole's fit; with ``saved``, after every validation the state of the run also goes to the last
        checkpoint (``last_checkpoint_path``), random-number states included, so ``--resume`` on it continues
        exactly where the run was."""
        if self._resume_rng is not None:
            set_rng_state(self._resume_rng, train_data)
            self._resume_rng = None
        if self.start_epoch >= self.epochs or self.cur_step > self.stopping_step:
            return self._finished(train_data)

        def after_validation(epoch_idx, valid_score):
            self.last_epoch = epoch_idx
            if saved and (self.config["single_spec"] or self.config["local_rank"] == 0):
                self._save_last(epoch_idx, train_data, verbose)
            if callback_fn is not None:
                callback_fn(epoch_idx, valid_score)

        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn=after_validation)

    def _finished(self, train_data):
        """A resumed run whose training had ended (its last epoch, or early stopping): nothing trains, and its best
        checkpoint stays as it is. RecBole's fit would save the current weights over it as epoch -1 (or train an
        early-stopped run on)."""
        self.eval_collector.data_collect(train_data)
        self.logger.info(f"Training had ended after epoch {self.last_epoch}; the best checkpoint is tested as it is")
        return self.best_valid_score, self.best_valid_result

    def _save_last(self, epoch, train_data, verbose):
        """The last checkpoint: this epoch's state, the best result so far and where the best weights are."""
        state = self._state(epoch)
        state["best_valid_result"] = {k: float(v) for k, v in (self.best_valid_result or {}).items()}
        state["best_file"] = os.path.basename(self.saved_model_file)
        state["rng"] = rng_state(train_data)
        path = last_checkpoint_path(self.saved_model_file)
        atomic_save(state, path)
        if verbose:
            self.logger.info(set_color("Saving last", "blue") + f": {path}")

    def resume_checkpoint(self, resume_file):
        """Continue training from ``resume_file``: weights, optimizer, epoch, early-stopping counter and best
        validation result, and from a last checkpoint also the random-number states (the same run, exactly).
        A checkpoint of another model or dataset, or one that does not fit this configuration, is a UsageError."""
        checkpoint = load_checkpoint(resume_file, self.config, self.device)
        try:
            self.model.load_state_dict(checkpoint["state_dict"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            reason = " ".join(str(err).split())[:200]
            raise UsageError(
                f"checkpoint '{resume_file}' does not fit this configuration ({reason}); "
                "resume with the options it was trained with"
            ) from err
        self.model.load_other_parameter(checkpoint["other_parameter"])
        self.saved_model_file = best_file_of(resume_file, checkpoint)
        self.start_epoch = checkpoint["epoch"] + 1
        self.last_epoch = checkpoint["epoch"]
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.best_valid_result = checkpoint["best_valid_result"] or None
        self._resume_rng = checkpoint.get("rng")
        self.logger.info(f"Checkpoint {resume_file} loaded; training resumes at epoch {self.start_epoch}")


def best_file_of(resume_file, checkpoint):
    """The best weights so far of the run being resumed: a last checkpoint's run keeps them beside it, in its
    run folder, wherever that folder is now (it may have been copied from another machine); a best checkpoint
    is its own. A last checkpoint whose best weights are gone is a UsageError before anything trains."""
    if "best_file" not in checkpoint:
        return str(resume_file)
    best = os.path.join(os.path.dirname(os.path.abspath(resume_file)), os.path.basename(checkpoint["best_file"]))
    if not os.path.isfile(best):
        raise UsageError(
            f"checkpoint '{resume_file}' is a last checkpoint, but its run's best weights '{best}' are missing: "
            f"copy the run's {os.path.basename(best)} beside it, or resume from a best checkpoint"
        )
    return best


def last_checkpoint_path(best_file):
    """Where the last checkpoint of a run whose best checkpoint is ``best_file`` goes: beside it, in its run folder."""
    return os.path.join(os.path.dirname(best_file), LAST)


class CompiledStepMixin:
    """With ``torch_compile: True``, each training step (zero the gradients, the model's loss, backward, gradient
    clipping, the optimizer's update) runs through ``torch.compile`` in ``torch_compile_mode``: with the default,
    reduce-overhead, a GPU replays the step's graphs as CUDA graphs instead of launching hundreds of small kernels
    from Python. The epoch's losses are summed on the device and read once, at its end (RecBole reads, and so
    waits for, every step's). If compiling fails, training goes on with the eager step after one warning; mixed
    precision and distributed runs keep RecBole's loop. See docs/PERFORMANCE.md for when it pays."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self._step, self._compiled = self._eager_step, False
        if config["torch_compile"]:
            if self.enable_amp or self.enable_scaler or not config["single_spec"]:
                self.logger.warning("torch_compile: mixed precision and distributed runs train with RecBole's loop")
            else:
                self._step = torch.compile(self._eager_step, mode=config["torch_compile_mode"])
                self._compiled = True

    def _eager_step(self, interaction):
        """One step of RecBole's training loop (without its scaler): the loss's parts, detached."""
        self.optimizer.zero_grad()
        losses = self.model.calculate_loss(interaction)
        parts = losses if isinstance(losses, tuple) else (losses,)
        sum(parts).backward()
        if self.clip_grad_norm:
            clip_grad_norm_(self.model.parameters(), **self.clip_grad_norm)
        self.optimizer.step()
        return tuple(part.detach() for part in parts)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if not self._compiled or loss_func is not None:
            return super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
        self.model.train()
        totals = None
        for interaction in tqdm(train_data, ncols=100, desc=f"Train {epoch_idx:>5}", disable=not show_progress):
            parts = self._compiled_or_eager(interaction.to(self.device))
            parts = [part.to(torch.float64) for part in parts]
            totals = parts if totals is None else [total + part for total, part in zip(totals, parts, strict=True)]
        values = [total.item() for total in totals]
        self._check_nan(torch.tensor(sum(values)))
        return values[0] if len(values) == 1 else tuple(values)

    def _compiled_or_eager(self, interaction):
        """The compiled step (or the eager one), the compiled replaced by the eager one for good at its first
        failure; the rest of the run trains with RecBole's loop."""
        if self._compiled:
            try:
                return self._step(interaction)
            except Exception as err:  # any compiler failure: fall back rather than stop training
                self.logger.warning(f"torch_compile failed ({type(err).__name__}: {err}); training eagerly")
                self._step, self._compiled = self._eager_step, False
        return self._step(interaction)


class ExactEvaluator(Evaluator):
    """RecBole's evaluator that also keeps each top-k metric's unrounded mean (``exact``): RecBole rounds every
    metric to ``metric_decimal_place`` decimals, the reference code's early stopping compares unrounded scores."""

    def __init__(self, config):
        super().__init__(config)
        self.exact = {}
        for metric in self.metric_class.values():
            if isinstance(metric, TopkMetric):
                metric.topk_result = self._keeping_exact(metric)

    def _keeping_exact(self, metric):
        """``metric.topk_result`` (the per-user values to rounded means), recording the unrounded means first."""
        rounded = metric.topk_result

        def topk_result(name, value):
            means = value.mean(axis=0)
            self.exact.update({f"{name}@{k}": float(means[k - 1]) for k in metric.topk})
            return rounded(name, value)

        return topk_result

    def evaluate(self, dataobject):
        self.exact = {}
        return super().evaluate(dataobject)


class ReferenceStoppingMixin:
    """``stopping_rule: reference``, the reference code's early stopping: an epoch improves only if its unrounded
    ``valid_metric`` is strictly better than the best so far, and training stops after ``stopping_step`` epochs
    without one. RecBole's rule (``recbole``, the default) counts an equal score rounded to 4 decimals as an
    improvement and stops one epoch later. RecBole's fit applies its rule to the score returned here, so the
    score is the exact one, moved one float below the best (above, for a smaller-is-better metric) when it is
    not a strict improvement."""

    def __init__(self, config, model):
        super().__init__(config, model)
        if config["stopping_rule"] == "reference":
            self.evaluator = ExactEvaluator(config)
            self.stopping_step = config["stopping_step"] - 1  # RecBole stops after stopping_step + 1 epochs

    def _valid_epoch(self, valid_data, show_progress=False):
        score, result = super()._valid_epoch(valid_data, show_progress=show_progress)
        if self.config["stopping_rule"] != "reference":
            return score, result
        exact, best = self.evaluator.exact[self.valid_metric], self.best_valid_score
        if self.valid_metric_bigger:
            return (exact if exact > best else min(exact, math.nextafter(best, -math.inf))), result
        return (exact if exact < best else max(exact, math.nextafter(best, math.inf))), result


class Trainer(SafeCheckpointMixin, ReferenceStoppingMixin, CompiledStepMixin, recbole_trainer.Trainer):
    """RecBole's trainer of sequential and general models. With ``eval_history_mask``, full-sort evaluation gives
    each user's history items (everything before the evaluated target, not only the window) score 0 as in the
    reference code (``zero``), excludes them (``exclude``), or keeps their scores as RecBole does (``none``)."""

    eval_history = None  # the UserHistory of the split being evaluated

    def fit(self, train_data, *args, **kwargs):
        if self.config["train_window"] != "all" and not isinstance(train_data._dataset, ProtocolDatasetMixin):
            raise ConfigError(
                f"train_window={self.config['train_window']} needs the training split of "
                "recbole_bsarec.data.protocol.create_dataset (recbole_bsarec.pipeline.prepare)"
            )
        return super().fit(train_data, *args, **kwargs)

    def evaluate(self, eval_data, *args, **kwargs):
        self.eval_history = getattr(eval_data._dataset, "history", None)
        if self.eval_history is None and self.config["eval_history_mask"] != "none":
            raise ConfigError(
                "eval_history_mask needs the evaluation splits of recbole_bsarec.data.protocol.create_dataset "
                "(recbole_bsarec.pipeline.prepare): they carry the users' histories"
            )
        return super().evaluate(eval_data, *args, **kwargs)

    def _full_sort_batch_eval(self, batched_data):
        interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(batched_data)
        mode = self.config["eval_history_mask"]
        if mode != "none":
            mask_scores(scores, self.eval_history.entries(interaction[self.config["USER_ID_FIELD"]]), mode)
        return interaction, scores, positive_u, positive_i


class TraditionalTrainer(SafeCheckpointMixin, recbole_trainer.TraditionalTrainer):
    """RecBole's trainer of traditional models (Pop, ItemKNN, ...): one epoch, safe checkpoints."""
