"""farmtel analytics: agronomy science, indicators and derived metrics."""
