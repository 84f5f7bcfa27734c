"""Where report files go, how they are written, and the digest that proves their content."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

DEFAULT_DIR = Path("reports")


def default_path(stem: str, kind: str, extension: str | None) -> Path:
    """``reports/<stem>_<kind>.<ext>`` (a directory when there is no extension)."""
    name = f"{stem}_{kind}" + (f".{extension}" if extension else "")
    return DEFAULT_DIR / name


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place, so a failure
    never leaves half a report behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_manifest(directory: Path, names: Iterable[str]) -> str:
    """sha256 of the ``sha256sum`` listing of the files, sorted by name.

    So ``cd DIR && sha256sum metrics.csv snapshots.csv trades.csv | sha256sum`` reproduces
    it with standard tools (docs/reports.md).
    """
    listing = "".join(f"{sha256_file(directory / name)}  {name}\n" for name in sorted(names))
    return hashlib.sha256(listing.encode()).hexdigest()
