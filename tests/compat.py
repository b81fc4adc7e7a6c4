"""Skips for tests that use an SDK feature an older, still supported SDK release lacks.

llmotel supports openai >= 1.26 and anthropic >= 0.40; ``scripts/test-compat`` runs the
instrumentation tests against the oldest and the last release of each major version.
A test that needs a newer SDK than that says so with a decorator naming the first
release that has the feature, e.g. ``@requires_openai("1.66", "Responses API")``. On the
SDK versions in ``.ci/constraints.txt`` none of these skips ever triggers.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.version import Version


def installed(distribution: str) -> Version | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    try:
        return Version(version(distribution))
    except PackageNotFoundError:
        return None


def _requires(distribution: str, minimum: str, feature: str) -> pytest.MarkDecorator:
    found = installed(distribution)
    return pytest.mark.skipif(
        found is not None and found < Version(minimum),
        reason=f"{feature} needs {distribution} >= {minimum} (installed: {found})",
    )


def requires_openai(minimum: str, feature: str) -> pytest.MarkDecorator:
    """Skip unless the installed openai SDK is at least ``minimum`` (where ``feature`` appeared)."""
    return _requires("openai", minimum, feature)


def requires_anthropic(minimum: str, feature: str) -> pytest.MarkDecorator:
    """Skip unless the installed anthropic SDK is at least ``minimum`` (where ``feature`` appeared)."""
    return _requires("anthropic", minimum, feature)
