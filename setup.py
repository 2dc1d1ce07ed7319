"""recbole-bsarec: BSARec and its ablations as a RecBole plugin."""

from pathlib import Path

from setuptools import find_packages, setup

PROPERTIES = [str(p.relative_to("properties")) for p in Path("properties").rglob("*.yaml")]

setup(
    name="recbole-bsarec",
    version="0.1.0",
    description="BSARec (beyond self-attention sequential recommendation, AAAI 2024) as a RecBole plugin",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.12",
    packages=find_packages(include=["recbole_bsarec", "recbole_bsarec.*"]) + ["recbole_bsarec.properties"],
    package_dir={"recbole_bsarec.properties": "properties"},
    package_data={"recbole_bsarec.properties": PROPERTIES},
    install_requires=[
        "recbole==1.2.1",
        "torch>=2.1",
        "numpy>=1.24,<2",  # recbole 1.2.1 uses np.float_, ray 2.6.3 np.bool8
        "pandas>=2.0,<3",  # pandas 3's copy-on-write skips recbole's fillna(inplace=True)
        "pyarrow<26",  # pyarrow 26 needs numpy 2
        "ray[tune]==2.6.3",  # the newest ray recbole 1.2.1 accepts
        "hyperopt==0.2.5",  # 0.3 breaks recbole's HyperTuning
        "setuptools<81",  # ray 2.6.3 imports pkg_resources
        "matplotlib>=3.7,<3.11",  # analysis figures
    ],
    extras_require={"test": ["pytest>=7", "ruff>=0.5", "hypothesis>=6"]},
    entry_points={"console_scripts": ["recbole-bsarec=recbole_bsarec.cli:main"]},
)
