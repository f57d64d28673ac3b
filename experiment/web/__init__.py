"""The 2AFC and the questionnaire in the browser, for observers recruited online (jsPsych served by
Starlette under uvicorn). See docs/online.md."""
