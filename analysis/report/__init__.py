"""The report: `python -m analysis.report` builds one self-contained HTML page from every part (`build_report`)."""
