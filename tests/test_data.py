import gzip
import os
import urllib.request

import numpy as np
import pytest

from minigan import data


def write_mnist_like(folder, monkeypatch, n=32, seed=0):
    """Tiny uncompressed IDX files with the real MNIST names, made canonical for this test:
    data.FILES is patched to their MD5s and shapes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    files = {}
    for name, (filename, gz_md5, _, _) in data.FILES.items():
        array = images if name.endswith("images") else labels
        data.save_idx(folder / filename[:-3], array)
        files[name] = (filename, gz_md5, data.md5_of(folder / filename[:-3]), array.shape)
    monkeypatch.setattr(data, "FILES", files)
    return images, labels


def test_idx_round_trip_gzip_and_raw(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        data.save_idx(tmp_path / name, array)
        np.testing.assert_array_equal(data.read_idx(tmp_path / name, expected_ndim=3), array)


def test_truncated_file_is_a_clear_error(tmp_path):
    data.save_idx(tmp_path / "x.idx", np.zeros((4, 28, 28), np.uint8))
    raw = (tmp_path / "x.idx").read_bytes()
    (tmp_path / "x.idx").write_bytes(raw[:-10])
    with pytest.raises(data.DataError, match=r"x.idx.*truncated"):
        data.read_idx(tmp_path / "x.idx")
    with gzip.open(tmp_path / "y.idx.gz", "wb") as f:
        f.write(raw)
    (tmp_path / "y.idx.gz").write_bytes((tmp_path / "y.idx.gz").read_bytes()[:-30])
    with pytest.raises(data.DataError, match=r"y.idx.gz: cannot read it"):
        data.read_idx(tmp_path / "y.idx.gz")


def test_wrong_magic_is_a_clear_error(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(data.DataError, match=r"bad.idx: wrong magic number 12340801"):
        data.read_idx(tmp_path / "bad.idx")
    data.save_idx(tmp_path / "labels.idx", np.zeros(5, np.uint8))
    with pytest.raises(data.DataError, match="1 dimensions, expected 3"):
        data.read_idx(tmp_path / "labels.idx", expected_ndim=3)


def test_checksum_mismatch_names_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    filename = data.FILES["test-labels"][0]
    with gzip.open(tmp_path / filename, "wb") as f:
        f.write(b"not mnist")
    with pytest.raises(data.DataError, match=rf"{filename}: MD5 .* does not match"):
        data.find_file("test-labels", data_dir=tmp_path, download=False)


def test_missing_data_offline_says_where_it_looked(tmp_path, monkeypatch, no_shipped_mnist):
    monkeypatch.setenv("MINIGAN_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(data.DataError) as info:
        data.load_mnist("train")              # no folder named: every place, then a download
    message = str(info.value)
    for place in ("env", "cache"):
        assert str(tmp_path / place) in message
    assert "network is unreachable" in message and "--data-dir" in message
    assert not list((tmp_path / "cache").rglob("*.part*"))  # no half-written download left


def test_download_is_verified_and_atomic(tmp_path, monkeypatch, no_shipped_mnist):
    """A mirror serving the wrong bytes: the file is rejected and nothing is left behind."""
    import io
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    class Response(io.BytesIO):
        headers = {"Content-Length": "5"}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response(b"wrong"))
    with pytest.raises(data.DataError, match="does not match the canonical"):
        data.find_file("test-labels")
    assert not [p for p in (tmp_path / "minigan" / "mnist").iterdir()]


def test_the_shipped_copy_is_the_last_place_looked_before_a_download(tmp_path, monkeypatch):
    """A fresh clone trains offline: with no folder given, no MINIGAN_DATA_DIR and an empty
    cache, the files come from data/mnist (checksummed like any other copy), never the network."""
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise AssertionError("tried to download")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert data.candidate_dirs()[-1] == data.SHIPPED_DIR
    assert data.candidate_dirs(tmp_path / "given") == [tmp_path / "given"]  # named: it alone
    for name, (filename, md5, _, _shape) in data.FILES.items():
        path = data.find_file(name)
        assert path == data.SHIPPED_DIR / filename and data.md5_of(path) == md5
    images, labels = data.load_mnist("test")
    assert images.shape == (10000, 784) and labels[:5].tolist() == [7, 2, 1, 0, 4]
    (tmp_path / "given").mkdir()                     # a folder that has the files comes first
    data.save_idx(tmp_path / "given" / "t10k-labels-idx1-ubyte.gz", np.zeros(10000, np.uint8))
    with pytest.raises(data.DataError, match="does not match the canonical"):
        data.find_file("test-labels", data_dir=tmp_path / "given")


def test_load_mnist_scales_to_minus_one_one(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    images, labels = write_mnist_like(tmp_path, monkeypatch)
    x, y = data.load_mnist("train", data_dir=tmp_path, download=False)
    assert x.shape == (32, 784) and x.dtype == np.float32
    np.testing.assert_allclose(x, images.reshape(32, 784) / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.skipif(not os.environ.get("MINIGAN_DATA_DIR"), reason="MINIGAN_DATA_DIR not set")
def test_the_real_files_verify_and_parse():
    x, y = data.load_mnist("test")
    assert x.shape == (10000, 784) and y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert abs((x + 1).mean() / 2 - 0.1325) < 1e-3
