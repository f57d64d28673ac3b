"""Statistics of human data: sessions, the 2AFC experiment, the questionnaire, rater agreement."""
