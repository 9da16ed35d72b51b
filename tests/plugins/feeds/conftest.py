"""The feeds' tests use the same régie as the HSDS tests."""

from tests.plugins.hsds.conftest import regie  # noqa: F401
