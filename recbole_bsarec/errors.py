"""Errors caused by what the user gave (a name, a file, a value): the CLI prints them as one line, exit 2."""

import argparse


class UsageError(Exception):
    """Bad input from the user; the message names the input and how to fix it."""


class ConfigError(UsageError):
    """An impossible or unknown configuration value."""


class DatasetError(UsageError):
    """A dataset that is missing, cannot be downloaded, or is malformed."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are UsageError (sub-command parsers too), so they print as one line, exit 2."""

    def error(self, message):
        raise UsageError(f"{message}: see {self.prog} --help")
