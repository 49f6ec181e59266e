"""The Debian side of the .deb (run by packaging/build with the build environment's Python).

`drop DIR`: removes from the bundle in DIR the shared libraries PyInstaller collected from the system (those a Debian
package owns, found with `dpkg -S`) and prints their names; the installed system copies are used instead.
`depends DIR`: prints the `Depends:` value: the Debian packages owning every system library the bundle's programs
and libraries load (`ldd`, as dpkg-shlibdeps does), with the build machine's versions as the minimum.

Must not: drop what no package owns, or the bundle's own Python (libpython: the bundle's Python is not Debian's).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/lib")
KEEP = ("libpython",)


def _owners(paths: list[str]) -> dict[str, str]:
    """{path: package} for the paths a Debian package owns (one `dpkg -S` call)."""
    if not paths:
        return {}
    out = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True, check=False).stdout
    owners: dict[str, str] = {}
    for line in out.splitlines():
        package, _, path = line.partition(": ")
        if path and "," not in package:  # "diversion by ..." lines and multi-owner lines name no single package
            owners[path.strip()] = package.split(":")[0].strip()
    return owners


def drop(bundle: Path) -> None:
    internal = bundle / "_internal"
    names = [p.name for p in internal.iterdir() if ".so" in p.name and p.is_file() and not p.name.startswith(KEEP)]
    candidates = [f"{d}/{n}" for n in names for d in LIB_DIRS if os.path.exists(f"{d}/{n}")]
    owned = {Path(p).name for p in _owners(candidates)}
    for name in sorted(owned):
        (internal / name).unlink()
        print(name)


def _elf_files(bundle: Path) -> list[Path]:
    found = []
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def depends(bundle: Path) -> None:
    env = dict(os.environ, LD_LIBRARY_PATH=str(bundle / "_internal"))
    system: set[str] = set()
    missing: set[str] = set()
    for elf in _elf_files(bundle):
        out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, env=env, check=False).stdout
        for line in out.splitlines():
            name, arrow, rest = line.strip().partition(" => ")
            if not arrow:
                continue
            target = rest.split(" (")[0].strip()
            if target == "not found":
                missing.add(f"{name} (needed by {elf.relative_to(bundle)})")
            elif target.startswith("/") and not target.startswith(str(bundle.resolve())):
                system.add(os.path.realpath(target))
                system.add(target)
    owners = _owners(sorted(system))
    packages = sorted(set(owners.values()))
    versions = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Version}\n", *packages], capture_output=True, text=True, check=True
    ).stdout
    minimum = dict(line.split(" ", 1) for line in versions.splitlines())
    for line in sorted(missing):
        print(
            f"package: warning: {line} is not on this machine; that part of the bundle will not load", file=sys.stderr
        )
    print(", ".join(f"{p} (>= {minimum[p].split('+')[0]})" for p in packages))


if __name__ == "__main__":
    verb, where = sys.argv[1], Path(sys.argv[2])
    {"drop": drop, "depends": depends}[verb](where)
