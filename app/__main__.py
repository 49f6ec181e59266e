"""`python -m app` runs the command line (and, with no command, the GUI)."""

import multiprocessing

from app.cli import main

# In a frozen bundle (packaging/), a process spawned by the sync's page writer starts this same executable: this
# call runs the child's work there and exits instead of starting the app a second time. A no-op otherwise.
multiprocessing.freeze_support()
raise SystemExit(main())
