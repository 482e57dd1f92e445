"""Jurisdictions as data: a city (or county-level city), its units with their plan group and
townships, official denominators and reported indicator values, each versioned with its source.

Modules: ``tables`` (SQLAlchemy tables, append-only where a figure is kept), ``documents``
(the JSON format of a jurisdiction file, validated), ``store`` (load a jurisdiction, record
and read denominators and reported values). Nothing names a city: the packaged jurisdiction is
a data file in ``analytics/data``.
"""
