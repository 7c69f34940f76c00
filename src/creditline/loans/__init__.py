"""Loans: instalment schedules built from a drawn principal, a term and a rate."""
