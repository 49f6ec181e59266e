"""`python -m app` runs the command line (and, with no command, the GUI)."""

from app.cli import main

raise SystemExit(main())
