"""creditline: revolving credit lines that are correct, explained, announced and reversible."""

__version__ = "0.1.0"
