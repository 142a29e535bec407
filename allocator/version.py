"""The package's version, in one place (``allocator --version``, the report's provenance)."""

__version__ = "0.1.0"
