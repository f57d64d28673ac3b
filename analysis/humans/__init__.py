"""Statistics of human data: sessions, the 2AFC experiment (with d'/c in `sdt` and the population models
in `mixed`), the questionnaire, rater agreement, and the two-way (observers x items) bootstrap."""
