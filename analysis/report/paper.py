"""The published numbers of Meding et al. (ICLR 2022) that the report compares a lab's data with.

Each entry: key, the quantity in words, the paper's value, the number of decimals it was
published with (the comparison rounds this data's value the same way), and its context.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperNumber:
    key: str
    quantity: str
    value: float
    decimals: int
    context: str


PAPER: list[PaperNumber] = [
    PaperNumber("ddd_trivial", "share of trivial images (k = 1)", 0.460, 3, "ImageNet validation, 11 state-of-the-art models"),
    PaperNumber("ddd_in_between", "share of in-between images (k = 1)", 0.425, 3, "ImageNet validation, 11 state-of-the-art models"),
    PaperNumber("ddd_impossible", "share of impossible images (k = 1)", 0.115, 3, "ImageNet validation, 11 state-of-the-art models"),
    PaperNumber("ddd_flips", "share of images whose predicted label changes between epochs (flips)", 0.1237, 4,
                "ImageNet, ResNet-18 training runs; changes of the predicted label, not of correctness"),
    PaperNumber("2afc_n_observers", "2AFC observers", 9, 0, "9 observers, 149 test trials"),
    PaperNumber("2afc_accuracy_mean", "2AFC accuracy, mean over observers", 0.8136, 4, "9 observers, 149 test trials"),
    PaperNumber("2afc_accuracy_min", "2AFC accuracy, lowest observer", 0.7181, 4, "9 observers, 149 test trials"),
    PaperNumber("2afc_accuracy_max", "2AFC accuracy, highest observer", 0.8859, 4, "9 observers, 149 test trials"),
    PaperNumber("2afc_accuracy_sd", "2AFC accuracy, SD over observers", 0.0629, 4, "9 observers, 149 test trials"),
    PaperNumber("2afc_ec_mean", "inter-observer error consistency, mean", 0.5874, 4, "all pairs of the 9 observers"),
    PaperNumber("2afc_ec_min", "inter-observer error consistency, lowest pair", 0.4053, 4, "all pairs of the 9 observers"),
    PaperNumber("2afc_ec_max", "inter-observer error consistency, highest pair", 0.7527, 4, "all pairs of the 9 observers"),
    PaperNumber("2afc_ec_sd", "inter-observer error consistency, SD", 0.0878, 4, "all pairs of the 9 observers"),
    PaperNumber("q_main_yes", "mean model accuracy, main category: yes", 0.64, 2, "questionnaire, Fig. 6 subset"),
    PaperNumber("q_main_maybe", "mean model accuracy, main category: maybe", 0.44, 2, "questionnaire, Fig. 6 subset"),
    PaperNumber("q_main_no", "mean model accuracy, main category: no", 0.37, 2, "questionnaire, Fig. 6 subset"),
    PaperNumber("q_unusual_no", "mean model accuracy, unusual presentation: no", 0.61, 2, "questionnaire, Fig. 6 subset"),
    PaperNumber("q_unusual_slightly", "mean model accuracy, unusual presentation: slightly", 0.55, 2, "questionnaire, Fig. 6 subset"),
    PaperNumber("q_unusual_very", "mean model accuracy, unusual presentation: very", 0.34, 2, "questionnaire, Fig. 6 subset"),
    PaperNumber("q_corr_categories", "Pearson r, mean number of categories vs mean model accuracy", -0.37, 2, "questionnaire, per image"),
]
