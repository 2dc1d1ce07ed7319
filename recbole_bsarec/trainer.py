"""Trainer additions layered over whichever RecBole trainer a model uses."""

from recbole.utils import set_color

from recbole_bsarec.checkpoint import atomic_save, plain_config


class SafeCheckpointMixin:
    """Saves RecBole's checkpoint fields with the config as plain values, so torch>=2.6 loads them
    with weights_only=True (RecBole pickles its Config object), and writes them atomically."""

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        state = {
            "config": plain_config(self.config),
            "epoch": epoch,
            "cur_step": self.cur_step,
            "best_valid_score": float(self.best_valid_score),
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict(),
        }
        atomic_save(state, saved_model_file)
        if verbose:
            self.logger.info(set_color("Saving current", "blue") + f": {saved_model_file}")
