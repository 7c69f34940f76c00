"""Tools for developing creditline; not part of the installed package."""
