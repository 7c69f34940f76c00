"""Shared kernel: value types and helpers every capability needs. No I/O."""
