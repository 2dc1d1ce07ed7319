"""Models this package adds to RecBole."""

from recbole_bsarec.model.bsarec import BSARec, BSARecAttnOnly, BSARecFilterOnly, BSARecScalarBeta
from recbole_bsarec.model.caser import CaserLeftPad
from recbole_bsarec.model.duorec import DuoRec
from recbole_bsarec.model.fearec import FEARec
from recbole_bsarec.model.fmlprec import FMLPRec

__all__ = [
    "BSARec",
    "BSARecAttnOnly",
    "BSARecFilterOnly",
    "BSARecScalarBeta",
    "CaserLeftPad",
    "DuoRec",
    "FEARec",
    "FMLPRec",
]
