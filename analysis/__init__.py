"""Statistics, figures and the report; needs neither torch nor a display."""
