"""Shared parts of the benchmark scripts: the machine description, process memory, child processes that serve the
sandboxes or a static file, authenticated request headers, the request-log helpers and a workspace wired like the
demo's but with the client pacing scaled for a benchmark.

Servers run in child processes, so a measuring loop never shares a GIL with the server it measures and a child's
RSS is its own. Run as a script (`python benchmarks/_bench.py`) it prints the machine description as one JSON
object, so `make benchmarks`, which runs every file here, stays harmless.
Must not: change anything under `app/` or patch app code to make a figure look better; the only instrumentation is
a timer wrapped around the generator in the sandbox child, which changes no behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing IMPORT_PLACEHOLDER
