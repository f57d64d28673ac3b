"""Statistics of model decisions: difficulty, error consistency, agreement, conditions, image statistics, label issues, the DDD analysis."""
