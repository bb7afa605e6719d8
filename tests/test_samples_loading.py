"""load_samples reads a folder of images or an .npz into uint8 N x C x H x W, or says what is wrong."""
import numpy as np
import pytest
import torch
from formats import random_images, write_image_files
from torchvision.utils import save_image

from aigc_eval.errors import UserError
from aigc_eval.samples import load_samples, save_samples_npz


def user_error(match, fn, *args, **kwargs) -> str:
    """Run fn, expect a one-line UserError containing every string in `match`; return it."""
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for part in match:
        assert str(part) in message, message
    return message


@pytest.mark.parametrize("shape", [(3, 9, 7), (1, 9, 7)])
def test_png_folder_round_trips_in_name_order(tmp_path, shape):
    images, _ = random_images(5, shape)
    names = ["b.png", "a.png", "e.png", "c.png", "d.png"]  # written out of order
    write_image_files(tmp_path, images, names=names)
    loaded = load_samples(tmp_path)
    assert loaded.dtype == np.uint8 and loaded.shape == (5, *shape)
    order = np.argsort(names)
    assert np.array_equal(loaded, images[order])


def test_jpeg_folder(tmp_path):
    images = np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (3, 3, 16, 1))  # smooth, so JPEG stays close
    write_image_files(tmp_path, images, fmt="jpg")
    loaded = load_samples(tmp_path)
    assert loaded.shape == (3, 3, 16, 16)
    assert np.abs(loaded.astype(int) - images).max() <= 8


@pytest.mark.parametrize("channels", [1, 3])
def test_npz_round_trip(tmp_path, channels):
    images, _ = random_images(6, (channels, 5, 4))
    path = save_samples_npz(tmp_path / "samples.npz", images)
    assert [p.name for p in tmp_path.iterdir()] == ["samples.npz"]  # no temporary file left behind
    loaded = load_samples(path)
    assert np.array_equal(loaded, images) and loaded.flags.c_contiguous


def test_npz_keys_and_layouts(tmp_path):
    images, _ = random_images(4, (3, 6, 5))
    nhwc = images.transpose(0, 2, 3, 1)
    np.savez(tmp_path / "positional.npz", nhwc)
    np.savez(tmp_path / "named.npz", images=nhwc, labels=np.arange(4))
    np.savez(tmp_path / "only.npz", whatever=nhwc)
    np.save(tmp_path / "plain.npy", nhwc)
    for name in ("positional.npz", "named.npz", "only.npz", "plain.npy"):
        assert np.array_equal(load_samples(tmp_path / name), images), name
    np.savez(tmp_path / "grey.npz", samples=images[:, 0])  # N x H x W
    assert np.array_equal(load_samples(tmp_path / "grey.npz"), images[:, :1])


def test_float_samples_match_torchvision_save_image(tmp_path):
    # The same floats, saved as PNGs by torchvision and as an .npz, load to identical bytes.
    floats = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    floats[0, 0, 0, :4] = torch.tensor([0.0, 1.0, 0.5 / 255, 254.5 / 255])
    (tmp_path / "png").mkdir()
    for i, image in enumerate(floats):
        save_image(image, tmp_path / "png" / f"{i}.png")
    np.savez(tmp_path / "floats.npz", samples=floats.permute(0, 2, 3, 1).numpy())
    from_floats = load_samples(tmp_path / "floats.npz")
    assert np.array_equal(from_floats, load_samples(tmp_path / "png"))
    assert from_floats[0, 0, 0, :2].tolist() == [0, 255]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_floats(tmp_path, value):
    x = np.random.default_rng(0).random((3, 4, 4, 3), dtype=np.float32)
    x[1, 2, 3, 0] = value
    np.savez(tmp_path / "bad.npz", samples=x)
    user_error([tmp_path / "bad.npz", "NaN", "uint8 0..255", "[0, 1]"], load_samples, tmp_path / "bad.npz")


def test_floats_outside_unit_range(tmp_path):
    np.savez(tmp_path / "tanh.npz", np.linspace(-1, 1, 48).reshape(1, 4, 4, 3))
    user_error([tmp_path / "tanh.npz", "-1..1", "[0, 1]"], load_samples, tmp_path / "tanh.npz")


@pytest.mark.parametrize("array, expected", [
    (np.zeros((2, 4, 4, 3), np.int64), "dtype int64"),
    (np.zeros((2, 4, 4, 3), bool), "dtype bool"),
    (np.zeros((2, 3, 8, 8), np.uint8), "looks like N x C x H x W"),
    (np.zeros((2, 4, 4, 4), np.uint8), "C = 1 or 3"),
    (np.zeros((2, 1, 4, 4, 3), np.uint8), "shape (2, 1, 4, 4, 3)"),
    (np.zeros(12, np.uint8), "N x H x W x C"),
])
def test_wrong_array(tmp_path, array, expected):
    np.savez(tmp_path / "s.npz", samples=array)
    user_error([f"{tmp_path / 's.npz'}[samples]", expected], load_samples, tmp_path / "s.npz")


def test_npz_without_a_known_key(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 4, 4)), b=np.zeros(3))
    user_error([tmp_path / "two.npz", "a, b", "samples"], load_samples, tmp_path / "two.npz")


def test_unreadable_npz(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip")
    user_error([tmp_path / "junk.npz", "cannot read"], load_samples, tmp_path / "junk.npz")
    np.savez(tmp_path / "objects.npz", samples=np.array([{"a": 1}], dtype=object))
    user_error([tmp_path / "objects.npz"], load_samples, tmp_path / "objects.npz")


def test_path_errors(tmp_path):
    user_error([tmp_path / "missing", "does not exist"], load_samples, tmp_path / "missing")
    (tmp_path / "samples.pt").write_bytes(b"")
    user_error([tmp_path / "samples.pt", ".npz"], load_samples, tmp_path / "samples.pt")
    (tmp_path / "empty").mkdir()
    user_error([tmp_path / "empty", "no image files"], load_samples, tmp_path / "empty")
    write_image_files(tmp_path / "nested" / "inner", random_images(2, (3, 4, 4))[0])
    user_error([tmp_path / "nested", "subfolders are not searched"], load_samples, tmp_path / "nested")


def test_bad_image_files_are_named(tmp_path):
    images, _ = random_images(3, (3, 8, 8))
    paths = write_image_files(tmp_path, images)
    paths[1].write_bytes(b"GIF89a broken")
    user_error([paths[1], "cannot read"], load_samples, tmp_path)
    good = paths[0].read_bytes()
    paths[1].write_bytes(good[: len(good) // 2])
    user_error([paths[1], "corrupt"], load_samples, tmp_path)
    write_image_files(tmp_path, random_images(1, (3, 8, 10))[0], names=[paths[1].name])
    user_error([paths[1], "10x8", paths[0], "8x8"], load_samples, tmp_path)


def test_count_and_shape_requirements(tmp_path):
    images, _ = random_images(3, (1, 28, 28))
    path = save_samples_npz(tmp_path / "s.npz", images)
    user_error([path, "3 images", "at least 10"], load_samples, path, min_samples=10)
    user_error([path, "1x28x28", "3x32x32"], load_samples, path, image_shape=(3, 32, 32))
    assert load_samples(path, min_samples=3, image_shape=(1, 28, 28)).shape == (3, 1, 28, 28)
    np.savez(tmp_path / "none.npz", samples=np.zeros((0, 28, 28, 1), np.uint8))
    user_error([tmp_path / "none.npz", "0 images"], load_samples, tmp_path / "none.npz")


def test_labels_are_saved_beside_the_samples(tmp_path):
    images, labels = random_images(6, (3, 4, 4), num_classes=3)
    path = save_samples_npz(tmp_path / "run" / "samples.npz", images, labels)
    assert np.array_equal(load_samples(path), images)
    with np.load(path) as stored:
        assert sorted(stored.files) == ["labels", "samples"] and stored["labels"].tolist() == labels.tolist()


def test_save_rejects_non_image_arrays(tmp_path):
    with pytest.raises(ValueError, match="uint8 N x C x H x W"):
        save_samples_npz(tmp_path / "x.npz", np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="6 images but 5 labels"):
        save_samples_npz(tmp_path / "x.npz", np.zeros((6, 3, 8, 8), np.uint8), np.zeros(5))
    assert not (tmp_path / "x.npz").exists()
