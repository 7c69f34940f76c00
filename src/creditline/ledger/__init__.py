"""The credit-line ledger: lines, drawdowns (holds), loans' principal, repayments, decisions,
journal, idempotency and reconciliation."""
