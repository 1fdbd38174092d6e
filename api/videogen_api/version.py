"""The API's version: the installed distribution's, so it cannot drift from pyproject.toml."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("videogen")
except PackageNotFoundError:  # running from a bare checkout without `pip install`
    VERSION = "0.0.0+unknown"
