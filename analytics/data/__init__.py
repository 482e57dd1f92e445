"""Versioned reference data of the analytics (plan targets, sector weights, denominators).

JSON files, read with :mod:`importlib.resources`; nothing is loaded at import time.
"""
