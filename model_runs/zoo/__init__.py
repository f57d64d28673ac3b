"""The paper's eleven pretrained models (`registry`), the architectures written here (`architectures`:
CORnet-RT, BagNet-33), CLIP as a zero-shot classifier (`clip_zero_shot`) and ImageNet-shaped
rehearsal data (`rehearsal`). Importing this package imports neither torch nor timm."""
