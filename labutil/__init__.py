"""Small utilities shared by every package: user errors, atomic file writes, version records."""
