"""Kept for the package's existing imports: the code lives in autograder/mfdl_checks/submitted_files.py (shipped to
students with each problem set, so it cannot import the package)."""
from .mfdl_checks.submitted_files import *  # noqa: F401,F403
