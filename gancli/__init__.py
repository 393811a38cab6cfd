"""gancli: a command-line experiment runner for generative adversarial networks."""

__version__ = "0.1.0"
