"""Choose images by model difficulty and write frozen, verifiable stimulus sets."""
