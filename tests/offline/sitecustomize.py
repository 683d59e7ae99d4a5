"""Installs the offline guard in every Python process started with this folder on PYTHONPATH."""

import offline_guard

offline_guard.install()
