"""Errors caused by what the user gave (a name, a file, a value): the CLI prints them as one line, exit 2."""


class UsageError(Exception):
    """Bad input from the user; the message names the input and how to fix it."""


class ConfigError(UsageError):
    """An impossible or unknown configuration value."""


class DatasetError(UsageError):
    """A dataset that is missing, cannot be downloaded, or is malformed."""
