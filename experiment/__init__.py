"""The PsychoPy programs (2AFC, questionnaire) and the lab configuration."""
