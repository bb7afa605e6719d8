"""mnist, fashion_mnist, cifar10 and folder read tiny files in their real formats, exactly."""
import gzip
import os
import pickle
import shutil

import numpy as np
import pytest
from formats import (CIFAR10_CLASSES, Split, python2_pickle, random_images, write_cifar10, write_cifar_batch, write_idx,
                     write_image_files, write_image_folder, write_mnist_idx)
from PIL import Image

from aigc_eval.data import DATASETS, load_dataset
from aigc_eval.errors import UserError

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def user_error(match_paths, fn, *args, **kwargs) -> str:
    """Run fn, expect a one-line UserError that names every path in `match_paths`; return it."""
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for path in match_paths:
        assert str(path) in message, message
    return message


def assert_same_split(ds, written):
    for got, want in zip((ds.train_x, ds.train_y, ds.test_x, ds.test_y), written):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_registered_names():
    assert {"mnist", "fashion_mnist", "cifar10", "folder"} <= set(DATASETS.names())


# ------------------------------------------------------------------------------------ MNIST

def test_mnist_round_trips_exactly(tmp_path):
    written = write_mnist_idx(tmp_path, n_train=30, n_test=12)
    ds = load_dataset("mnist", tmp_path)
    assert ds.name == "mnist" and ds.image_shape == (1, 28, 28)
    assert ds.class_names == tuple("0123456789")
    assert ds.train_y.dtype == np.int64
    assert_same_split(ds, written)
    assert ds.train_x.flags.writeable


def test_fashion_mnist_reads_gzipped_idx(tmp_path):
    written = write_mnist_idx(tmp_path, n_train=25, n_test=10, kind="fashion", gz=True, seed=3)
    assert all(p.suffix == ".gz" for p in (tmp_path / "FashionMNIST" / "raw").iterdir())
    ds = load_dataset("fashion_mnist", tmp_path)
    assert_same_split(ds, written)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert all(name.endswith(".gz") for name in ds.meta["files"])


def test_uncompressed_idx_wins_over_gz_beside_it(tmp_path):
    # torchvision keeps the .gz next to the file it extracted; the two must not be mixed up.
    plain = write_mnist_idx(tmp_path, n_train=20, n_test=10, seed=1)
    write_mnist_idx(tmp_path, n_train=20, n_test=10, seed=2, gz=True)
    assert_same_split(load_dataset("mnist", tmp_path), plain)


def test_mnist_idx_header_is_big_endian(tmp_path):
    # 300 images: the count needs two bytes, so a little-endian reader would see 0x2c010000.
    x, y = random_images(300, (1, 28, 28))
    write_mnist_idx(tmp_path, data=Split(x, y, x[:10], y[:10]))
    assert (tmp_path / "MNIST/raw/train-images-idx3-ubyte").read_bytes()[:8] == bytes([0, 0, 8, 3, 0, 0, 1, 44])
    assert len(load_dataset("mnist", tmp_path).train_x) == 300


def test_limit_subsamples_train_deterministically(tmp_path):
    written = write_mnist_idx(tmp_path, n_train=40, n_test=10)
    first = load_dataset("mnist", tmp_path, limit=15)
    second = load_dataset("mnist", tmp_path, limit=15)
    assert len(first.train_x) == 15 and np.array_equal(first.train_x, second.train_x)
    assert first.fingerprint() == second.fingerprint()
    # A subset of the training rows, in file order, each with its own label; test untouched.
    rows = [next(i for i in range(40) if np.array_equal(written.train_x[i], img)) for img in first.train_x]
    assert rows == sorted(set(rows))
    assert np.array_equal(first.train_y, written.train_y[rows])
    assert np.array_equal(first.test_x, written.test_x)
    assert len(load_dataset("mnist", tmp_path, limit=1000).train_x) == 40


@pytest.mark.parametrize("limit", [0, -3, 2.5, "10", True])
def test_bad_limit(tmp_path, limit):
    write_mnist_idx(tmp_path)
    assert "limit" in user_error([], load_dataset, "mnist", tmp_path, limit=limit)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST"),
                                          ("cifar10", "cifar-10-batches-py"), ("folder", "DIR/<class>")])
def test_no_data_root_says_what_is_needed(name, folder):
    message = user_error([name, "--data-root", folder], load_dataset, name, None)
    assert "downloaded" in message


def test_data_root_that_is_not_a_folder(tmp_path):
    user_error([tmp_path / "nowhere"], load_dataset, "mnist", tmp_path / "nowhere")


def test_missing_mnist_files_are_named(tmp_path):
    write_mnist_idx(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte").unlink()
    missing = f"{raw / 't10k-labels-idx1-ubyte'}[.gz]"
    message = user_error([missing, "torchvision layout"], load_dataset, "mnist", tmp_path)
    assert "train-images" not in message
    message = user_error([], load_dataset, "fashion_mnist", tmp_path)
    assert all(f"FashionMNIST/raw/{name}[.gz]" in message for name in MNIST_FILES)


def test_wrong_idx_file_is_caught_by_its_magic_number(tmp_path):
    write_mnist_idx(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    shutil.copyfile(raw / "train-labels-idx1-ubyte", raw / "train-images-idx3-ubyte")
    message = user_error([raw / "train-images-idx3-ubyte"], load_dataset, "mnist", tmp_path)
    assert "magic number 0x00000801, expected 0x00000803" in message


def test_truncated_idx(tmp_path):
    write_mnist_idx(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    assert "truncated" in user_error([path], load_dataset, "mnist", tmp_path)
    path.write_bytes(b"\x00\x00\x08")
    assert "too short" in user_error([path], load_dataset, "mnist", tmp_path)


def test_label_count_must_match_image_count(tmp_path):
    written = write_mnist_idx(tmp_path, n_train=20)
    labels = write_idx(tmp_path / "MNIST/raw/train-labels-idx1-ubyte", written.train_y[:-1])
    images = tmp_path / "MNIST/raw/train-images-idx3-ubyte"
    message = user_error([labels, images], load_dataset, "mnist", tmp_path)
    assert "19 labels" in message and "20 images" in message


def test_label_out_of_range(tmp_path):
    written = write_mnist_idx(tmp_path, n_train=20)
    bad = written.train_y.copy()
    bad[3] = 10
    labels = write_idx(tmp_path / "MNIST/raw/train-labels-idx1-ubyte", bad)
    assert "label 10" in user_error([labels], load_dataset, "mnist", tmp_path)


def test_images_must_be_28x28(tmp_path):
    write_mnist_idx(tmp_path)
    images = write_idx(tmp_path / "MNIST/raw/t10k-images-idx3-ubyte", np.zeros((20, 20, 20), np.uint8))
    assert "20x20" in user_error([images], load_dataset, "mnist", tmp_path)


def test_corrupt_gzip(tmp_path):
    write_mnist_idx(tmp_path, gz=True)
    path = tmp_path / "MNIST/raw/train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])  # a cut-off download
    assert "gzip" in user_error([path], load_dataset, "mnist", tmp_path)
    path.write_bytes(b"not gzip at all")
    user_error([path], load_dataset, "mnist", tmp_path)


# ------------------------------------------------------------------------------------ CIFAR-10

def test_cifar10_python2_batches_round_trip_exactly(tmp_path):
    written = write_cifar10(tmp_path, n_train=23, n_test=11)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.image_shape == (3, 32, 32)
    assert ds.class_names == CIFAR10_CLASSES and ds.class_names[9] == "truck"
    assert_same_split(ds, written)


def test_python2_pickle_writer_matches_the_documented_reader(tmp_path):
    # The CIFAR-10 page's own recipe, pickle.load(f, encoding="bytes"), reads what the test writes.
    x, y = random_images(4, (3, 32, 32))
    path = write_cifar_batch(tmp_path / "batch", x, y)
    assert b"numpy.core.multiarray\n_reconstruct" in path.read_bytes()
    with open(path, "rb") as fh:
        batch = pickle.load(fh, encoding="bytes")
    assert np.array_equal(batch[b"data"], x.reshape(4, -1)) and batch[b"labels"] == y.tolist()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batches_repickled_by_python3(tmp_path, protocol):
    written = write_cifar10(tmp_path, n_train=10, n_test=5, protocol=protocol)
    assert_same_split(load_dataset("cifar10", tmp_path), written)


def test_cifar10_pickle_cannot_run_code(tmp_path):
    write_cifar10(tmp_path, n_train=10, n_test=5)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}))
    message = user_error([path, f"{os.mkdir.__module__}.mkdir"], load_dataset, "cifar10", tmp_path)
    assert "not loaded" in message
    assert not marker.exists()


def test_missing_cifar10_files_are_named(tmp_path):
    write_cifar10(tmp_path, n_train=10, n_test=5)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_5").unlink()
    (folder / "batches.meta").unlink()
    needed = [folder / "data_batch_5", folder / "batches.meta", "--data-root"]
    message = user_error(needed, load_dataset, "cifar10", tmp_path)
    assert "data_batch_4" not in message


@pytest.mark.parametrize("batch, expected", [
    ({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}, "uint8 N x 3072"),
    ({b"data": np.zeros((3, 3072), np.float32), b"labels": [0, 1, 2]}, "float32"),
    ({b"labels": [0, 1, 2]}, "NoneType"),
    ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}, "3 ints"),
    ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 10]}, "0..9"),
    ([1, 2, 3], "holds a list"),
])
def test_malformed_cifar10_batch(tmp_path, batch, expected):
    write_cifar10(tmp_path, n_train=10, n_test=5)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps(batch))
    assert expected in user_error([path], load_dataset, "cifar10", tmp_path)


def test_cifar10_file_that_is_not_a_pickle(tmp_path):
    write_cifar10(tmp_path, n_train=10, n_test=5)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:-40])  # a cut-off copy
    assert "not a CIFAR-10 python batch" in user_error([path], load_dataset, "cifar10", tmp_path)


def test_cifar10_class_names_come_from_batches_meta(tmp_path):
    write_cifar10(tmp_path, n_train=10, n_test=5)
    meta = tmp_path / "cifar-10-batches-py" / "batches.meta"
    meta.write_bytes(python2_pickle({b"label_names": [b"cat", b"dog"]}))
    assert "10 class names" in user_error([meta], load_dataset, "cifar10", tmp_path)


def test_cifar10_limit(tmp_path):
    written = write_cifar10(tmp_path, n_train=30, n_test=5)
    ds = load_dataset("cifar10", tmp_path, limit=12)
    assert len(ds.train_x) == 12 and ds.meta["train_size"] == 30
    assert all(any(np.array_equal(img, w) for w in written.train_x) for img in ds.train_x)


# ------------------------------------------------------------------------------------ folder

def index_by_bytes(written):
    return {img.tobytes(): int(label) for img, label in zip(written.x, written.y)}


def test_class_folders_split_stratified_and_round_trip(tmp_path):
    written = write_image_folder(tmp_path, n_per_class=(10, 6, 3), class_names=("zebra", "cat", "dog"))
    ds = load_dataset("folder", tmp_path)
    assert ds.class_names == ("cat", "dog", "zebra") and ds.image_shape == (3, 8, 8)
    labels = index_by_bytes(written)
    # Every written image lands in exactly one split, unchanged, with its class folder's label.
    seen = [img.tobytes() for img in np.concatenate([ds.train_x, ds.test_x])]
    assert sorted(seen) == sorted(labels)
    for x, y in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        assert [labels[img.tobytes()] for img in x] == y.tolist()
    # 20% of each class is test, at least one: zebra 10 -> 2, cat 6 -> 1, dog 3 -> 1.
    assert np.bincount(ds.test_y).tolist() == [1, 1, 2]
    assert np.bincount(ds.train_y).tolist() == [5, 2, 8]


def test_folder_split_is_deterministic_and_follows_test_fraction(tmp_path):
    write_image_folder(tmp_path, n_per_class=(10, 10))
    first, second = load_dataset("folder", tmp_path), load_dataset("folder", tmp_path)
    assert np.array_equal(first.test_x, second.test_x) and first.fingerprint() == second.fingerprint()
    half = load_dataset("folder", tmp_path, test_fraction=0.5)
    assert np.bincount(half.test_y).tolist() == [5, 5]
    assert len(load_dataset("folder", tmp_path, limit=4).train_x) == 4


def test_flat_grey_folder_is_one_class(tmp_path):
    folder = tmp_path / "digits_png"
    written = write_image_folder(folder, n_per_class=(6,), shape=(1, 5, 7), flat=True)
    ds = load_dataset("folder", folder)
    assert ds.class_names == ("digits_png",) and ds.image_shape == (1, 5, 7)
    assert sorted(i.tobytes() for i in np.concatenate([ds.train_x, ds.test_x])) == sorted(index_by_bytes(written))


def test_subdir_option_and_hidden_files(tmp_path):
    written = write_image_folder(tmp_path / "faces", n_per_class=(3, 3))
    (tmp_path / "faces" / "class_0" / "._00000.png").write_bytes(b"macOS resource fork, not an image")
    (tmp_path / "faces" / "class_1" / "notes.txt").write_text("ignored")
    write_mnist_idx(tmp_path)  # the same --data-root can hold other datasets
    ds = load_dataset("folder", tmp_path, subdir="faces")
    assert len(ds.train_x) + len(ds.test_x) == len(written.x)
    user_error([tmp_path / "nope"], load_dataset, "folder", tmp_path, subdir="nope")


def test_grey_and_colour_mix_reads_as_rgb(tmp_path):
    grey, _ = random_images(2, (1, 6, 6), seed=1)
    rgb, _ = random_images(2, (3, 6, 6), seed=2)
    write_image_files(tmp_path / "a", grey, names=["g0.png", "g1.png"])
    write_image_files(tmp_path / "a", rgb, names=["r0.png", "r1.png"])
    write_image_files(tmp_path / "b", rgb)
    ds = load_dataset("folder", tmp_path)
    assert ds.image_shape == (3, 6, 6)
    everything = np.concatenate([ds.train_x, ds.test_x])
    grey_as_rgb = np.repeat(grey[:1], 3, axis=1)[0]
    assert any(np.array_equal(img, grey_as_rgb) for img in everything)


def test_jpeg_folder(tmp_path):
    written = write_image_folder(tmp_path, n_per_class=(3, 3), shape=(3, 16, 16), fmt="jpg")
    ds = load_dataset("folder", tmp_path)
    assert ds.image_shape == (3, 16, 16) and len(ds.train_x) + len(ds.test_x) == len(written.x)


def test_folder_errors_name_the_file(tmp_path):
    user_error([tmp_path, "no images"], load_dataset, "folder", tmp_path)
    written = write_image_folder(tmp_path, n_per_class=(3, 1))
    assert "at least 2" in user_error(["class_1"], load_dataset, "folder", tmp_path)
    write_image_files(tmp_path / "class_1", written.x[:1], names=["extra.png"])
    stray = write_image_files(tmp_path, written.x[:1], names=["stray.png"])[0]
    assert "both" in user_error([tmp_path, stray.name], load_dataset, "folder", tmp_path)
    stray.unlink()
    odd = write_image_files(tmp_path / "class_0", random_images(1, (3, 9, 8))[0], names=["odd.png"])[0]
    message = user_error([odd, "8x9", "8x8"], load_dataset, "folder", tmp_path)
    assert "one size" in message
    odd.write_bytes(b"\x89PNG not really")
    assert "cannot read" in user_error([odd], load_dataset, "folder", tmp_path)
    good = (tmp_path / "class_0" / "00000.png").read_bytes()
    odd.write_bytes(good[: len(good) // 2])  # header fine, pixel data cut off
    assert "corrupt" in user_error([odd], load_dataset, "folder", tmp_path)
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(odd)  # 16-bit grey PNG
    assert "16-bit" in user_error([odd], load_dataset, "folder", tmp_path)
    odd.unlink()
    assert "test_fraction" in user_error([], load_dataset, "folder", tmp_path, test_fraction=1.0)


def test_gzip_idx_written_by_helper_is_real_gzip(tmp_path):
    path = write_idx(tmp_path / "x-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    assert gzip.decompress(path.read_bytes()) == bytes([0, 0, 8, 1, 0, 0, 0, 5, 0, 1, 2, 3, 4])
