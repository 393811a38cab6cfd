"""The evaluation classifier of image data: a small CNN the project trains once per machine and caches.

Image metrics (gancli.evaluation.image_metrics) need a classifier of the base images: its predicted class
counts modes, its confidence marks high-quality samples and its penultimate layer is the feature
space of the Frechet distance and the k-NN metrics. Rather than download a pretrained network,
gancli trains one on the dataset's own labelled images: deterministically (seed 0, whatever the
run's seed), on 90% of each class, measuring its accuracy on the other 10%. The parameters are
cached as named arrays (.npz, no pickle) with a JSON description beside them; the file name holds
the dataset's digest, so different data never share a classifier.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import Array

from gancli.run_dir.files import write_atomically

log = logging.getLogger(__name__)

CLASSIFIER_VERSION = 1  # bump when the network or its training changes: old cache files are then retrained
SEED = 0
FEATURES = 128  # width of the penultimate layer: the feature space of the image metrics
TEST_EVERY = 10  # every 10th image of each class (in a fixed random order) is held out
EPOCHS = 8
BATCH = 64
LEARNING_RATE = 2e-3
PREDICT_BATCH = 2048  # base images per jitted call of predict: ~50 MB of activations at 28x28


class LabelledImages(Protocol):
    """What the classifier reads of a dataset (gancli.data.images.ImageData)."""

    name: str
    pixels: Any  # (N, H, W, C0) in [-1, 1]
    labels: np.ndarray | None
    num_classes: int | None
    stack: int

    def digest(self) -> str: ...


class ImageCNN(nnx.Module):
    """conv 3x3 32 -> max pool 2 -> conv 3x3 64 stride 2 -> dense FEATURES -> dense num_classes."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, *, rngs: nnx.Rngs):
        height, width, channels = image_shape
        self.conv1 = nnx.Conv(channels, 32, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(32, 64, (3, 3), strides=2, rngs=rngs)
        flat = 64 * math.ceil(height / 4) * math.ceil(width / 4)
        self.hidden = nnx.Linear(flat, FEATURES, rngs=rngs)
        self.out = nnx.Linear(FEATURES, num_classes, rngs=rngs)

    def features(self, x: Array) -> Array:
        """(n, H, W, C0) images -> (n, FEATURES) penultimate activations."""
        x = jax.nn.relu(self.conv1(x))
        x = nnx.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        x = jax.nn.relu(self.conv2(x))
        return jax.nn.relu(self.hidden(x.reshape(x.shape[0], -1)))

    def logits(self, x: Array) -> Array:
        return self.out(self.features(x))

    def __call__(self, x: Array) -> Array:
        return self.logits(x)


@dataclass(frozen=True)
class Predictions:
    """The classifier's reading of n samples, each `stack` base images side by side as channels."""

    labels: np.ndarray  # (n,) int: the mode, sum_c class_c * num_classes ** (stack - 1 - c)
    features: np.ndarray  # (n, FEATURES * stack) float32: each channel's features, in channel order
    confidence: np.ndarray  # (n,) the product over channels of the largest class probability


def _classify_samples(graphdef: nnx.GraphDef, image_shape: tuple[int, int, int], num_classes: int, stack: int,
                      params: nnx.State, samples: Array) -> tuple[Array, Array, Array]:
    """(b, H*W*C0*stack) flat samples -> (mode labels (b,), features (b, F*stack), confidence (b,))."""
    height, width, channels = image_shape
    b = samples.shape[0]
    # A sample's channel axis holds base image 0's C0 channels, then image 1's, ...
    base = samples.reshape(b, height, width, stack, channels).transpose(0, 3, 1, 2, 4)
    model = nnx.merge(graphdef, params)
    features = model.features(base.reshape(b * stack, height, width, channels))
    probs = jax.nn.softmax(model.out(features))
    classes = probs.argmax(-1).reshape(b, stack)
    places = num_classes ** jnp.arange(stack - 1, -1, -1)
    return ((classes * places).sum(-1), features.reshape(b, stack * FEATURES),
            probs.max(-1).reshape(b, stack).prod(-1))


class ImageClassifier:
    """A trained ImageCNN and what it was trained on; `predict` reads samples of the dataset."""

    def __init__(self, graphdef: nnx.GraphDef, params: nnx.State, image_shape: tuple[int, int, int],
                 num_classes: int, stack: int, info: dict[str, Any]):
        self.graphdef, self.params = graphdef, params
        self.image_shape, self.num_classes, self.stack = image_shape, num_classes, stack
        self.info = info  # the cache's JSON: version, data hash, test accuracy, sizes, epochs, seconds
        self._classify = jax.jit(lambda p, x: _classify_samples(graphdef, image_shape, num_classes, stack, p, x))

    @property
    def dim(self) -> int:
        return math.prod(self.image_shape) * self.stack

    def model(self) -> ImageCNN:
        return nnx.merge(self.graphdef, self.params)

    def predict(self, samples: np.ndarray) -> Predictions:
        """Mode labels, features and confidence of flat samples (n, H*W*C0*stack) in [-1, 1].

        Jitted over chunks of PREDICT_BATCH base images; the last chunk is padded to a power of two,
        so a call compiles at most a few shapes whatever n is."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape[1] != self.dim:
            raise ValueError(f"predict expects flat samples of shape (n, {self.dim}), got {samples.shape}")
        chunk = max(1, PREDICT_BATCH // self.stack)
        outputs = []
        for start in range(0, len(samples), chunk):
            part = samples[start:start + chunk]
            size = min(chunk, 1 << (len(part) - 1).bit_length())
            padded = np.pad(part, ((0, size - len(part)), (0, 0)))
            outputs.append([out[: len(part)] for out in self._classify(self.params, padded)])
        if not outputs:
            return Predictions(np.zeros(0, np.int64), np.zeros((0, FEATURES * self.stack), np.float32), np.zeros(0))
        labels, features, confidence = (np.concatenate(jax.device_get(parts)) for parts in zip(*outputs, strict=True))
        return Predictions(labels.astype(np.int64), features, confidence.astype(np.float64))


# Training ---------------------------------------------------------------------------------------

def held_out_split(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): every TEST_EVERY-th image of each class, in a fixed random
    order, is held out, so each class gives its share (within one image) to the test set."""
    order = np.random.default_rng(seed).permutation(len(labels))
    by_class = order[np.argsort(labels[order], kind="stable")]
    held = np.zeros(len(labels), dtype=bool)
    held[by_class[::TEST_EVERY]] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


def max_shift(height: int) -> int:
    """Augmentation: random shifts of up to 2 px at 28x28, none at 8x8 (where a pixel is an eighth of the image)."""
    return height // 14


def _shifted(images: Array, key: Array, shift: int) -> Array:
    """Each image moved by its own random (dy, dx) in [-shift, shift], the border filled with background (-1)."""
    if shift == 0:
        return images
    n, height, width, channels = images.shape
    padded = jnp.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)), constant_values=-1.0)
    offsets = jax.random.randint(key, (n, 2), 0, 2 * shift + 1)

    def crop(image: Array, offset: Array) -> Array:
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, channels))

    return jax.vmap(crop)(padded, offsets)


def _update_fn(graphdef: nnx.GraphDef, optimizer: optax.GradientTransformation, shift: int) -> Callable[..., Any]:
    """The jitted train step: (params, opt_state, images, labels, rows, key) -> (params, opt_state, loss)
    on the minibatch images[rows], each image shifted at random.

    One jitted step called from Python, not a lax.scan over an epoch: XLA's CPU backend runs a
    loop body's convolutions about three times slower than the same ops at the top level."""

    def loss_fn(params: nnx.State, images: Array, labels: Array) -> Array:
        logits = nnx.merge(graphdef, params).logits(images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    def update(params, opt_state, images, labels, rows, key):
        batch = _shifted(images[rows], key, shift)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, labels[rows])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(update, donate_argnums=(0, 1))


def accuracy(classifier: ImageClassifier, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of base images (n, H, W, C0) whose predicted class is their label."""
    base = ImageClassifier(classifier.graphdef, classifier.params, classifier.image_shape,
                           classifier.num_classes, 1, classifier.info)
    predicted = base.predict(np.asarray(images).reshape(len(images), -1)).labels
    return float((predicted == labels).mean())


def train(data: LabelledImages, epochs: int = EPOCHS) -> ImageClassifier:
    """Train the classifier on data's base images (seed SEED) and measure it on the held-out split."""
    if data.labels is None or data.num_classes is None:
        raise ValueError(f"data {data.name!r} has no labels: no classifier can be trained on it")
    start = time.perf_counter()
    images = np.asarray(data.pixels, dtype=np.float32)
    labels = np.asarray(data.labels, dtype=np.int32)
    image_shape = tuple(int(s) for s in images.shape[1:])
    train_rows, test_rows = held_out_split(labels)
    model = ImageCNN(image_shape, data.num_classes, rngs=nnx.Rngs(SEED))
    graphdef, params = nnx.split(model)
    optimizer = optax.adam(LEARNING_RATE)
    opt_state = optimizer.init(params)
    update = _update_fn(graphdef, optimizer, max_shift(image_shape[0]))
    train_images, train_labels = jnp.asarray(images[train_rows]), jnp.asarray(labels[train_rows])
    steps = max(1, len(train_rows) // BATCH)  # a last partial batch is left out: one compiled shape
    key = jax.random.key(SEED)
    for epoch in range(epochs):
        order = np.random.default_rng([SEED, epoch]).permutation(len(train_rows))
        losses = []
        for step in range(steps):
            rows = order[step * BATCH:(step + 1) * BATCH]
            params, opt_state, loss = update(params, opt_state, train_images, train_labels, rows,
                                             jax.random.fold_in(key, epoch * steps + step))
            losses.append(loss)
        mean_loss = float(jnp.mean(jnp.stack(losses)))  # a host-device sync, once an epoch
        if not np.isfinite(mean_loss):
            raise FloatingPointError(f"the evaluation classifier's loss is {mean_loss} in epoch {epoch}")
    info = {"version": CLASSIFIER_VERSION, "data_name": data.name, "data_hash": data.digest(),
            "train_size": int(len(train_rows)), "test_size": int(len(test_rows)), "epochs": epochs}
    classifier = ImageClassifier(graphdef, params, image_shape, data.num_classes, data.stack, info)
    info["test_accuracy"] = accuracy(classifier, images[test_rows], labels[test_rows])
    info["seconds"] = round(time.perf_counter() - start, 2)
    return classifier


# The cache --------------------------------------------------------------------------------------

def cache_directory(cache_dir: Path | None = None) -> Path:
    """`cache_dir`, else $GANCLI_CACHE, else $XDG_CACHE_HOME/gancli, else ~/.cache/gancli."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("GANCLI_CACHE"):
        return Path(os.environ["GANCLI_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gancli"


def cache_path(data: LabelledImages, cache_dir: Path | None = None) -> Path:
    """The .npz of data's classifier; its JSON description is the same path with suffix .json."""
    name = f"classifier-{data.name}-v{CLASSIFIER_VERSION}-{data.digest()[:16]}.npz"
    return cache_directory(cache_dir) / name


def _param_names(params: nnx.State) -> dict[str, Any]:
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    return {jax.tree_util.keystr(path, simple=True, separator="/"): leaf for path, leaf in flat}


def save(classifier: ImageClassifier, path: Path) -> None:
    """The parameters as named arrays, then the JSON: a reader that finds the JSON finds the arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.asarray(leaf) for name, leaf in _param_names(classifier.params).items()}
    write_atomically(path, lambda tmp: np.savez(tmp, **arrays))
    text = json.dumps(classifier.info, indent=2, sort_keys=True) + "\n"
    write_atomically(path.with_suffix(".json"), lambda tmp: tmp.write_text(text))


def load(data: LabelledImages, path: Path) -> ImageClassifier:
    """The cached classifier of `data`; ValueError/OSError if the files are missing, damaged or stale."""
    info = json.loads(path.with_suffix(".json").read_text())
    if not isinstance(info, dict):
        raise ValueError(f"{path.with_suffix('.json').name} holds no JSON object")
    expected = {"version": CLASSIFIER_VERSION, "data_hash": data.digest()}
    if any(info.get(key) != value for key, value in expected.items()):
        raise ValueError(f"{path.with_suffix('.json').name} describes another classifier: {info}")
    image_shape = tuple(int(s) for s in np.shape(data.pixels)[1:])
    abstract = nnx.eval_shape(lambda: ImageCNN(image_shape, data.num_classes, rngs=nnx.Rngs(SEED)))
    graphdef, target = nnx.split(abstract)
    names = _param_names(target)
    with np.load(path, allow_pickle=False) as stored:
        if set(stored.files) != set(names):
            raise ValueError(f"{path.name} holds {sorted(stored.files)}, not {sorted(names)}")
        arrays = {name: stored[name] for name in names}
    for name, want in names.items():
        if arrays[name].shape != want.shape or arrays[name].dtype != want.dtype:
            raise ValueError(f"{path.name}: {name} is {arrays[name].dtype}{arrays[name].shape}, not "
                             f"{want.dtype}{want.shape}")
    params = jax.tree_util.tree_map_with_path(
        lambda p, _: jnp.asarray(arrays[jax.tree_util.keystr(p, simple=True, separator="/")]), target)
    return ImageClassifier(graphdef, params, image_shape, data.num_classes, data.stack, info)


# What reading a damaged or stale cache raises: JSON and shape mismatches (ValueError), a missing or
# unreadable file (OSError), an .npz cut short or flipped (zipfile, zlib, EOFError).
DAMAGED = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def load_or_train(data: LabelledImages, cache_dir: Path | None = None) -> ImageClassifier:
    """data's evaluation classifier: from the cache, else trained (once per machine) and cached.

    A cache file that is damaged, or describes another version or dataset, is trained again and
    replaced. Concurrent jobs may each train it once; the files they write are identical."""
    if data.labels is None or data.num_classes is None:
        raise ValueError(f"data {data.name!r} has no labels: its images have no evaluation classifier")
    path = cache_path(data, cache_dir)
    if path.with_suffix(".json").exists():
        try:
            return load(data, path)
        except DAMAGED as error:
            log.warning("retraining the evaluation classifier: cannot use %s (%s: %s)", path,
                        type(error).__name__, error)
    log.info("training the evaluation classifier for %s once; cached at %s", data.name, path)
    classifier = train(data)
    try:
        save(classifier, path)
    except OSError as error:  # a read-only cache (e.g. a cluster's home): evaluate anyway, train again next time
        log.warning("could not cache the evaluation classifier at %s (%s); set GANCLI_CACHE to a writable folder "
                    "to train it once only", path, error)
    log.info("evaluation classifier for %s: test accuracy %.4f on %d held-out images, trained in %.1f s",
             data.name, classifier.info["test_accuracy"], classifier.info["test_size"], classifier.info["seconds"])
    return classifier
