"""Train and evaluate model ensembles and record every decision in a decisions store."""
