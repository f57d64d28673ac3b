"""The participant registry and the lab data layout."""
