"""Debian's `prometheus` package (the server and promtool), installed when missing, as
`make prometheus` does (the browser tests do the same for Chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _install() -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "prometheus"]):
        subprocess.run([*sudo, *cmd], env=env, check=False, capture_output=True, timeout=600)


def binary(name: str) -> str:
    """Path of `prometheus` or `promtool`; fails (not skips) when it cannot be installed."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if found is None:
        _install()
        found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing and apt-get could not install Debian's prometheus package")
    return found
