"""Per-image learning dynamics beside dichotomous data difficulty: forgetting events, first epoch
and iteration learned (`forgetting`), dataset cartography (`cartography`), item-response theory
(`irt`), representational similarity between conditions (`rsa`), per-epoch curves and the
comparison of every measure with DDD, image statistics and questionnaire answers (`curves`), and
reading what they need from the decisions store (`load`). Functions work on plain arrays; only
`load` touches the store."""
