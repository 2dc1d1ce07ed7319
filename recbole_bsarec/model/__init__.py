"""Models this package adds to RecBole."""

from recbole_bsarec.model.bsarec import BSARec, BSARecAttnOnly, BSARecFilterOnly, BSARecScalarBeta

__all__ = ["BSARec", "BSARecAttnOnly", "BSARecFilterOnly", "BSARecScalarBeta"]
