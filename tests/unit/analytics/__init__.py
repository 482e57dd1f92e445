"""Unit tests of analytics.agronomy."""
