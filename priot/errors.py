"""Exceptions with one clear message each, so the CLI can print them without a traceback."""


class PriotError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(PriotError):
    """A data file is missing, truncated or not in the expected layout (message names the file)."""


class ConfigError(PriotError):
    """A model, quantization or method parameter is out of range."""
