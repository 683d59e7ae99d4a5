"""Deterministic .tar.gz archives (same files -> same bytes): code packages, sample payloads."""

from __future__ import annotations

import gzip
import io
import tarfile


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A tar.gz of `files` (path in the archive -> content), in the order given, with no times or owners."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()
