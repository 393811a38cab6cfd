"""gancli: a command-line experiment runner for generative adversarial networks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gancli")  # pyproject.toml's, as installed: one place to change it
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "unknown"
