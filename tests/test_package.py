"""Packaging: properties found installed and editable, no ray at import, registry lookups."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from recbole.model.sequential_recommender import SASRec

from recbole_bsarec.config import PROPERTIES
from recbole_bsarec.errors import ConfigError
from recbole_bsarec.model import BSARec
from recbole_bsarec.registry import get_model

ROOT = Path(__file__).resolve().parents[1]


def test_properties_are_found():
    assert (PROPERTIES / "overall.yaml").is_file() and (PROPERTIES / "model" / "BSARec.yaml").is_file()


def test_wheel_carries_the_properties(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("recbole_bsarec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"recbole_bsarec/properties/{p.relative_to(ROOT / 'properties')}" for p in (ROOT / "properties").rglob("*.yaml")
    }
    assert expected and expected <= names


def test_nothing_imports_ray_unless_a_search_runs():
    code = "import sys, recbole_bsarec.cli, recbole_bsarec.pipeline; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_registry_finds_ours_and_recboles():
    assert get_model("BSARec") is BSARec
    assert get_model("SASRec") is SASRec
    with pytest.raises(ConfigError, match="unknown model"):
        get_model("NoSuchModel")


def test_recbole_models_do_not_leave_anomaly_detection_on():
    code = (
        "import sys, torch, recbole_bsarec.pipeline\n"
        "from recbole_bsarec.registry import get_model\n"
        "get_model('SASRec'); get_model('GRU4Rec')\n"
        "sys.exit(torch.is_anomaly_enabled())"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
