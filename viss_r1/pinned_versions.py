"""Private APIs of pinned dependencies: code that overrides or calls a library's private methods
follows one exact version of it, and another version may rename them, change what they are passed
or stop calling them — silently. So such code states the version it follows and checks it before
relying on it: a different installed version stops with an error naming what to port."""

from __future__ import annotations

import importlib.metadata
from typing import Iterable


class PinnedVersionError(RuntimeError):
    """The installed version of a dependency is not the one whose private API our code follows."""


def installed_version(distribution: str) -> str | None:
    """``distribution``'s installed version (pip's name, e.g. ``dagster-k8s``), None when absent."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def private_overrides(subclass: type, parent: type) -> list[str]:
    """The private methods (``_name``, not dunders) that ``subclass`` itself defines over
    ``parent``'s, sorted: derived from the class, so a new override is never left out."""
    return sorted(name for name in vars(subclass)
                  if name.startswith("_") and not name.startswith("__") and hasattr(parent, name))


def require_version(distribution: str, version: str, user: str, private_api: Iterable[str]) -> None:
    """Raise ``PinnedVersionError`` unless ``distribution`` is installed at exactly ``version``.
    ``user`` says what relies on it and ``private_api`` names the private methods or functions it
    overrides or calls, for the message."""
    installed = installed_version(distribution)
    if installed == version:
        return
    names = ", ".join(private_api)
    found = f"{distribution} {installed} is installed" if installed else f"{distribution} is not installed"
    raise PinnedVersionError(
        f"{user} follows the private API of {distribution} {version} ({names}), but {found}. "
        f"Install {distribution}=={version} (the pin in pyproject.toml), or port these to the installed "
        f"version, then change the pin and the version declared beside them")
