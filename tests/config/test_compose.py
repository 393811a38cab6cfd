"""gancli.config.compose: configs composed from conf/, the one place a default is written. The
config classes carry none for a key conf/ sets, each group option is a class of its own, and the
option lists of the classes agree with the registries and the files of conf/."""

from __future__ import annotations

import typing
from dataclasses import MISSING, fields

import pytest

from gancli.cli.overrides import group_options
from gancli.commands.evaluate import EvalConfig
from gancli.commands.report import ReportConfig
from gancli.commands.sample import SampleConfig
from gancli.config.compose import compose_raw, estimate_config, group_config, train_config
from gancli.config.estimate import GAN_TRAINING_KEYS, EstimateConfig
from gancli.config.schema import option_for, options
from gancli.config.train import (
    IMAGE_DATA,
    TOY_DATA,
    DataConfig,
    DivergenceConfig,
    ModelConfig,
    PlainDivergenceConfig,
    PriorConfig,
    RunConfig,
    SummaryMetric,
    parse_config,
)
from gancli.data.images import IMAGE_DATASETS
from gancli.data.toy import DATASETS
from gancli.errors import GancliError
from gancli.evaluation.sample_metrics import FEATURE_METRICS, SAMPLE_METRICS
from gancli.objectives.critic_losses import OBJECTIVES
from gancli.players.models import MODELS
from gancli.players.priors import PRIORS

ROOTS = {"train": RunConfig, "estimate": EstimateConfig, "sample": SampleConfig, "eval": EvalConfig,
         "report": ReportConfig}
GROUPS = ("data", "model", "prior", "divergence", "optim", "experiment")


def compositions():
    """(command, overrides) for every option of every group, and each other command as shipped."""
    for group in GROUPS:
        for option in group_options(group):
            yield "train", (f"{group}={option}",)
    for option in group_options("divergence"):
        yield "estimate", (f"divergence={option}",)
    yield from (("sample", ()), ("eval", ()), ("report", ()))


def keys_set(hint, raw, found):
    """Record, for each config class below `hint`, the keys that `raw` (as composed) sets."""
    cls = option_for(hint, raw.get("name")) if options(hint) else hint
    found.setdefault(cls, set()).update(raw)
    hints = typing.get_type_hints(cls)
    for key, value in raw.items():
        if isinstance(value, dict) and key in hints:
            keys_set(hints[key], value, found)


def test_no_default_is_written_twice():
    """A config class has no default for a key that conf/ sets: conf/ alone says what a run does."""
    found = {}
    for command, overrides in compositions():
        raw = compose_raw(command, *overrides)
        if command == "estimate":  # what a divergence file sets for training a GAN: not estimate's keys
            raw = {k: v for k, v in raw.items() if k not in GAN_TRAINING_KEYS}
        keys_set(ROOTS[command], raw, found)
    twice = [f"{cls.__name__}.{f.name}" for cls, keys in found.items() for f in fields(cls)
             if f.name in keys and (f.default is not MISSING or f.default_factory is not MISSING)]
    assert twice == []
    every_option = {o for union in (DataConfig, ModelConfig, DivergenceConfig) for o in options(union)}
    assert every_option <= set(found), "an option class that no file of conf/ reaches"


def test_the_option_lists_agree_with_the_registries_and_conf():
    def names(union):
        return {n for o in options(union) for n in typing.get_args(typing.get_type_hints(o)["name"])}

    assert names(DataConfig) == set(TOY_DATA) | set(IMAGE_DATA) == set(DATASETS) | set(IMAGE_DATASETS)
    assert names(DataConfig) == set(group_options("data"))
    assert names(ModelConfig) == set(MODELS) == set(group_options("model"))
    prior_names = set(typing.get_args(typing.get_type_hints(PriorConfig)["name"]))
    assert prior_names == set(PRIORS) == set(group_options("prior"))
    # The divergences with parameters or no critic have options of their own; the plain option takes
    # every other name of the registry.
    own = names(DivergenceConfig)
    assert own | set(OBJECTIVES) == set(group_options("divergence"))
    assert {type(group_config("divergence", name)) for name in set(OBJECTIVES) - own} == {PlainDivergenceConfig}
    possible = {*SAMPLE_METRICS, *FEATURE_METRICS, "d_loss", "g_loss", "divergence_estimate", "log_likelihood"}
    assert set(typing.get_args(SummaryMetric)) == possible - {"modes_total"}  # a count fixed by the data


@pytest.mark.parametrize(("group", "option", "key"), [
    ("data", "ring", "side"), ("data", "grid", "radius"), ("data", "mnist", "path"), ("data", "ring", "mode_samples"),
    ("model", "gmm", "hidden"), ("model", "dcgan", "depth"), ("model", "affine", "rescale"),
    ("model", "mlp", "components"),
])
def test_a_key_the_chosen_option_does_not_read_is_refused(group, option, key):
    """A ring run used to accept +data.side=3 and ignore it."""
    with pytest.raises(GancliError, match=rf"unknown config key '{group}\.{key}'; valid keys here: {group}\.name"):
        group_config(group, option, **{key: 3})


def test_a_parameter_the_divergence_does_not_take_is_refused_in_its_own_words():
    with pytest.raises(GancliError, match="divergence 'kl' takes no parameter"):
        group_config("divergence", "kl", alpha=0.5)
    with pytest.raises(GancliError, match="divergence 'gan' takes no parameter.*members"):
        group_config("divergence", "gan", members=["kl"])


def test_what_an_option_does_not_offer_reads_as_its_constant():
    assert group_config("model", "gmm").pack == 1  # no critic: nothing to pack
    assert group_config("model", "affine").rescale is False  # mu + sigma z: in the data's units
    assert group_config("data", "digits").path is None
    kl = group_config("divergence", "kl")
    assert (kl.alpha, kl.pi, kl.members, kl.weights, kl.shared_critic) == (None, None, None, None, True)


def test_library_callers_get_the_yamls_values():
    """Python defaults used to differ: Adam 1e-4 against the YAML's 2e-4, pack 1 against 2, the
    grid's std 0.01 against 0.05."""
    cfg = train_config("data=grid")
    assert (cfg.optim.g.lr, cfg.optim.d.lr, cfg.model.pack, cfg.data.std) == (2e-4, 2e-4, 2, 0.05)
    assert group_config("data", "grid").std == 0.05
    assert estimate_config().estimate.steps == 3000


def test_a_composition_is_a_fresh_copy_each_time():
    first = compose_raw("train")
    first["train"]["steps"] = 1
    assert compose_raw("train")["train"]["steps"] == 20000


def test_a_missing_option_name_or_an_unknown_one_is_one_line():
    raw = compose_raw("train")
    del raw["data"]["name"]
    with pytest.raises(GancliError, match="config key 'data.name' is missing"):
        parse_config(raw)
    with pytest.raises(GancliError, match="config key 'data.name' is 'moons'; allowed values: ring, grid"):
        group_config("data", "ring", name="moons")
