"""The PySide6 desktop GUI. Talks to the services only through `app.services.api.Recondesk`.

Must not: import storage, connectors, requests, sqlalchemy or keyring (import-linter checks it), or block the GUI
thread with database or network work (that runs on `app.ui.tasks.TaskRunner` lanes).
"""
