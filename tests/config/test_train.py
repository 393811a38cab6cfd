"""gancli.config.train: the real configs of conf/ validate into RunConfig; bad values fail with one line
naming the key; runs saved by older versions read as they ran."""

from __future__ import annotations

import copy

import pytest

from gancli.cli.overrides import check_overrides, group_options
from gancli.config.schema import flatten
from gancli.config.train import (
    BEFORE_THE_KEY,
    RESUMABLE_KEYS,
    RunConfig,
    parse_config,
    saved_config,
    saved_settings,
    to_dict,
)
from gancli.errors import GancliError
from tests.helpers import compose_config, compose_raw


def test_default_config_is_the_documented_run():
    cfg = compose_config()
    assert isinstance(cfg, RunConfig)
    assert (cfg.data.name, cfg.model.name, cfg.prior.name, cfg.divergence.name) == ("ring", "mlp", "gaussian", "gan")
    assert cfg.data.modes == 8 and cfg.data.radius == 1.0 and cfg.data.std == 0.01
    assert cfg.divergence.generator_loss == "nonsaturating"


def test_every_group_option_composes_and_validates():
    for group in ("data", "model", "prior", "divergence", "optim"):
        for option in group_options(group):
            cfg = compose_config(f"{group}={option}")
            assert getattr(cfg, group).name == option


def test_grid_is_the_25_mode_lattice():
    cfg = compose_config("data=grid")
    assert (cfg.data.side, cfg.data.spacing, cfg.data.std) == (5, 2.0, 0.05)


def test_per_player_overrides():
    cfg = compose_config("model.generator.hidden=64", "model.discriminator.depth=2")
    assert cfg.model.player("generator") == (64, 4)
    assert cfg.model.player("discriminator") == (128, 2)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("train.steps", "abc", "'train.steps' must be an integer"),
        ("train.steps", 0, "'train.steps' is 0; it must lie in [1, inf]"),
        ("optim.d.lr", -1.0, "'optim.d.lr' is -1.0; it must lie in (0, inf]"),
        ("optim.g.b1", 1.0, "'optim.g.b1' is 1.0; it must lie in [0, 1)"),
        ("divergence.generator_loss", "max", "allowed values: nonsaturating, minimax"),
        ("model.activation", "sigmoidish", "allowed values: relu"),
        ("train.progress", "yes", "'train.progress' must be true or false"),
        ("train.objective", "fid", "allowed values: high_quality_fraction"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(key, value, expected):
    raw = compose_raw()
    section, *rest = key.split(".")
    node = raw[section]
    for part in rest[:-1]:
        node = node[part]
    node[rest[-1]] = value
    with pytest.raises(GancliError) as err:
        parse_config(raw)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_key_is_rejected():
    raw = compose_raw()
    raw["train"]["stpes"] = 3
    with pytest.raises(GancliError, match="unknown config key 'train.stpes'"):
        parse_config(raw)


def test_override_check_rejects_unknown_group_option_with_the_choices():
    with pytest.raises(GancliError) as err:
        check_overrides("train", ["divergence=kl,klx"])
    assert "unknown divergence 'klx'" in str(err.value)
    assert "reverse_kl" in str(err.value)


def test_override_check_suggests_the_key_meant():
    with pytest.raises(GancliError, match="did you mean train.steps"):
        check_overrides("train", ["train.stpes=5"])


def test_override_check_knows_keys_of_the_chosen_option():
    check_overrides("train", ["data=grid", "data.side=3", "train.steps=5", "hydra.run.dir=x", "+extra=1"])
    with pytest.raises(GancliError, match="unknown config key 'data.side'"):
        check_overrides("train", ["data.side=3"])  # the default ring has no side


def test_override_check_follows_the_options_a_preset_swaps_in():
    check_overrides("train", ["experiment=mode_seeking", "data.spacing=6", "model.hidden=32"])
    with pytest.raises(GancliError, match="unknown config key 'data.radius'"):
        check_overrides("train", ["experiment=mode_seeking", "data.radius=2"])  # bimodal has no radius
    check_overrides("train", ["experiment=mode_seeking", "data=ring", "data.radius=2"])  # the command line wins


def test_a_wgan_gp_run_saved_before_penalties_were_a_key_reads_as_the_gp_it_ran_with():
    """gancli 0.1 kept wgan_gp's gradient penalty (weight 10) inside the objective: its saved
    config has no divergence.penalty, and must not read as penalty=none (which wgan_gp refuses)."""
    raw = compose_raw("divergence=wgan_gp")
    old = {**raw, "divergence": {k: v for k, v in raw["divergence"].items() if not k.startswith("penalty")}}
    cfg = saved_config(old)
    assert (cfg.divergence.penalty, cfg.divergence.penalty_weight) == ("gp", 10.0)
    assert saved_settings(old) == saved_settings(raw)  # a resume sees no changed setting
    kl = {**raw, "divergence": {"name": "kl", "generator_loss": "nonsaturating"}}
    assert saved_config(kl).divergence.penalty == "none"  # the others ran with no penalty


def test_a_divergence_file_may_set_how_its_gan_trains_and_the_command_line_still_wins():
    """conf/divergence/ comes after train.* and optim.* in the defaults: wgan_gp's own 5 critic steps."""
    assert compose_config("divergence=wgan_gp").train.d_steps == 5
    assert compose_config("divergence=wgan_gp", "train.d_steps=2").train.d_steps == 2
    assert compose_config().train.d_steps == 1  # gan sets nothing of the kind
    assert compose_config("divergence=wgan_gp", "experiment=smoke").divergence.penalty == "gp"


def test_the_grid_trains_30000_steps_unless_told_otherwise():
    assert compose_config("data=grid").train.steps == 30000
    assert compose_config("data=grid", "train.steps=500").train.steps == 500
    assert compose_config().train.steps == 20000


def test_a_player_override_of_depth_zero_is_kept_not_read_as_unset():
    # depth 0 (a linear player) is falsy: it must not fall back to the shared depth.
    assert compose_config("model.discriminator.depth=0").model.player("discriminator") == (128, 0)


def test_a_config_written_out_with_to_dict_parses_back_to_itself():
    cfg = compose_config("divergence=ensemble", "divergence.members=[kl,js]", "train.devices=all")
    assert parse_config(to_dict(cfg)) == cfg


def test_every_resumable_key_is_a_key_of_the_config():
    # A misspelt name here would make that key a "changed setting" that refuses every resume.
    keys = flatten(to_dict(compose_config()))
    assert [k for k in RESUMABLE_KEYS if k not in keys] == []


def test_saved_settings_compare_an_unreadable_config_as_it_was_saved():
    raw = compose_raw()
    raw["train"]["steps"] = "many"  # no version reads this: it is compared key by key, as saved
    settings = saved_settings(raw)
    assert settings["train.steps"] == "many" and settings["data.name"] == "ring"


def test_a_saved_config_reads_each_key_added_since_as_what_the_run_did():
    """The keys added after gancli 0.1.0, missing from a run saved then, read as BEFORE_THE_KEY
    says: no weight average, no packing, no penalty, one process; never as conf/'s defaults."""
    raw = compose_raw()
    old = {**raw, "train": {k: v for k, v in raw["train"].items() if f"train.{k}" not in BEFORE_THE_KEY},
           "model": {k: v for k, v in raw["model"].items() if f"model.{k}" not in BEFORE_THE_KEY},
           "divergence": {k: v for k, v in raw["divergence"].items() if f"divergence.{k}" not in BEFORE_THE_KEY}}
    del old["distributed"]
    as_saved = copy.deepcopy(old)
    settings = saved_settings(old)
    assert old == as_saved  # read, not changed: it is a checkpoint's metadata
    assert {k: settings[k] for k in BEFORE_THE_KEY} == BEFORE_THE_KEY
    assert (settings["train.ema_decay"], settings["model.pack"]) == (0.0, 1)  # conf/: 0.999 and 2
    with pytest.raises(GancliError, match="config key 'model.pack' is missing"):
        parse_config(old)  # a config composed now has every key: nothing is filled in for it


def test_a_saved_config_drops_the_keys_of_the_other_options_it_carried():
    """Before each option had a class, a ring run's checkpoint also saved the grid's side and
    spacing and the images' path, unread."""
    raw = compose_raw()
    old = {**raw, "data": {**raw["data"], "side": 5, "spacing": 2.0, "path": None, "mode_samples": 10000},
           "model": {**raw["model"], "components": 8, "covariance": "diag", "width": 64, "batch_norm": True}}
    assert saved_config(old) == parse_config(raw)
    with pytest.raises(GancliError, match="unknown config key 'data.mode_samples'"):
        parse_config(old)
