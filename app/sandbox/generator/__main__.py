"""`python -m app.sandbox.generator`: the generator's command line (`cli.main`)."""

from app.sandbox.generator.cli import main

raise SystemExit(main())
