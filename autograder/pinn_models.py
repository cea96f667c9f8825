"""Kept for the package's existing imports: the code lives in autograder/mfdl_checks/pinn_models.py (shipped to
students with each problem set, so it cannot import the package)."""
from .mfdl_checks.pinn_models import *  # noqa: F401,F403
