"""The month-end pack (product.md section 8, `recondesk pack`): one model of a period (`model.PackData`) and one
writer per format (`xlsx_writer`, `pdf_writer`, `csv_writer`); `build` reads the cache and writes the files.

This package's `__init__` imports nothing: `app.services.report` uses the writers, and `build` uses the report.
"""
