"""Models this package adds to RecBole."""

from recbole_bsarec.model.bsarec import (
    BSARec,
    BSARecAttnOnly,
    BSARecFilterOnly,
    BSARecIdentityFilter,
    BSARecScalarBeta,
)
from recbole_bsarec.model.caser import Caser, CaserLeftPad
from recbole_bsarec.model.duorec import DuoRec
from recbole_bsarec.model.fearec import FEARec
from recbole_bsarec.model.fmlprec import FMLPRec
from recbole_bsarec.model.sasrec import SASRec

__all__ = [
    "BSARec",
    "BSARecAttnOnly",
    "BSARecFilterOnly",
    "BSARecIdentityFilter",
    "BSARecScalarBeta",
    "Caser",
    "CaserLeftPad",
    "DuoRec",
    "FEARec",
    "FMLPRec",
    "SASRec",
]
