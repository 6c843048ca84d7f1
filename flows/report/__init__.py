"""The report: sections (queries), one cell formatter and the text formats, charts, the
HTML page. No Prefect here: `steplens report` should not pay for importing it."""
