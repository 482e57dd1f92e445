"""The analytics scheduler (``scheduler``) and its once-per-period run guard (``runs``)."""
