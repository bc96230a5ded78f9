"""The gapmap test suite."""
