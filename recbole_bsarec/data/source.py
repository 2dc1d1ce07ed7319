"""Make sure a dataset's atomic files are present before RecBole reads them, downloading RecBole's
known datasets atomically (into a temporary folder, renamed into place only when complete)."""

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from importlib import resources
from logging import getLogger

import yaml
from recbole.utils.url import rename_atomic_files

from recbole_bsarec.data.check import check_inter_file
from recbole_bsarec.errors import DatasetError

DOWNLOAD_TIMEOUT_S = 60
ATOMIC_SUFFIXES = ("inter", "user", "item", "kg", "link", "net")
NAME_MAX = 255  # bytes in one file name (ext4, XFS, btrfs, APFS)
PATH_MAX = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 260  # bytes, with the final NUL


def recbole_url(dataset):
    """The download address RecBole knows for ``dataset``, or None."""
    table = yaml.safe_load(resources.files("recbole").joinpath("properties/dataset/url.yaml").read_text())
    return table.get(dataset)


def download(dataset, url, dataset_path):
    """Fetch and unpack ``url`` into ``dataset_path``; on any failure nothing is left behind."""
    getLogger().info(f"Downloading dataset [{dataset}] from [{url}]")
    staging = tempfile.mkdtemp(prefix=f"recbole-bsarec-{dataset}-")
    try:
        archive = os.path.join(staging, url.rpartition("/")[2])
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
        unpacked = os.path.join(staging, dataset)
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(unpacked)
        rename_atomic_files(unpacked, os.path.splitext(os.path.basename(archive))[0], dataset)
        os.makedirs(os.path.dirname(os.path.abspath(dataset_path)), exist_ok=True)
        shutil.move(unpacked, dataset_path)
    except (OSError, zipfile.BadZipFile) as err:
        reason = " ".join(str(getattr(err, "reason", err)).split())
        raise DatasetError(
            f"could not download dataset '{dataset}' from {url} ({reason}); "
            f"put its atomic files ({dataset}.inter, ...) in {dataset_path}/ and run again"
        ) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_dataset_name(dataset, option="--dataset"):
    """Refuse a dataset name (given as ``option``) that is not one plain file name, or too long for its
    ``.inter`` file's name: RecBole joins it to data_path, so ``a/b`` or ``..`` would read (and the importer
    write) elsewhere."""
    if dataset in ("", ".") or dataset.startswith("..") or any(char in dataset for char in "/\\\0"):
        raise DatasetError(
            f"{option}={dataset!r} is not a plain folder name: name the dataset's folder alone, without '/', "
            f"'\\' or a leading '..' (e.g. {option}=ml-1m), and give the folder above it as --data_path"
        )
    name_bytes = len(os.fsencode(f"{dataset}.inter"))
    if name_bytes > NAME_MAX:
        raise DatasetError(
            f"{option} is {name_bytes - len('.inter')} bytes long: its file <dataset>.inter would exceed the "
            f"file system's {NAME_MAX}-byte limit on file names; rename the dataset (folder and files) shorter"
        )


def check_data_path(inter_file, option="--dataset"):
    """Refuse a dataset whose ``.inter`` file's path is too long for the operating system."""
    path_bytes = len(os.fsencode(os.path.abspath(inter_file)))
    if path_bytes >= PATH_MAX:
        raise DatasetError(
            f"{option}: the path of its file <dataset>.inter would be {path_bytes} bytes, over this system's "
            f"limit of {PATH_MAX - 1}: use a shorter {option} or move the data to a shorter --data_path"
        )


def ensure_dataset(config):
    """Check that ``config['data_path']`` holds ``<dataset>.inter``; download it if RecBole knows where."""
    dataset, dataset_path = config["dataset"], os.path.normpath(config["data_path"])
    inter_file = os.path.join(dataset_path, f"{dataset}.inter")
    if not os.path.exists(dataset_path):
        url = recbole_url(dataset)
        if url is None:
            raise DatasetError(
                f"dataset '{dataset}' not found: put its RecBole atomic files ({dataset}.inter, ...) "
                f"in {dataset_path}/ or point --data_path at their parent folder"
            )
        download(dataset, url, dataset_path)
    if not os.path.isfile(inter_file):
        raise DatasetError(f"dataset '{dataset}' has no interaction file: expected {inter_file}")
    check_inter_file(inter_file, config)


def fingerprint(dataset_path, dataset):
    """sha256 of each of the dataset's atomic files, by file name: what identifies the data wherever it sits."""
    digests = {}
    for suffix in ATOMIC_SUFFIXES:
        path = os.path.join(dataset_path, f"{dataset}.{suffix}")
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                digests[os.path.basename(path)] = hashlib.file_digest(handle, "sha256").hexdigest()
    return digests
