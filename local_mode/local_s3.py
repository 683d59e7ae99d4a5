"""S3 on this machine: `s3://<bucket>/<key>` is the file `<home>/s3/<bucket>/<key>`.

Downloads follow SageMaker's S3Prefix rule (every object under the prefix, kept at its path relative to
the prefix; a key that names one object gives that file). A local path (or `file://` URI) is read in place,
so local mode can train on a folder without copying it into a bucket first.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

S3_DIR = "s3"


class LocalS3:
    def __init__(self, home: Path) -> None:
        self.root = Path(home).resolve() / S3_DIR

    def path(self, uri: str) -> Path:
        """Where an S3 URI (or a local path) lives on this machine."""
        if not isinstance(uri, str) or not uri:
            raise ValueError(f"not an S3 URI or a local path: {uri!r}")
        parsed = urlparse(uri)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"S3 URI without a bucket: {uri!r}")
            target = (self.root / parsed.netloc / parsed.path.lstrip("/")).resolve()
            if self.root not in target.parents and target != self.root:
                raise ValueError(f"S3 URI leaves the local buckets: {uri!r}")
            return target
        if parsed.scheme == "file":
            return Path(parsed.path)
        if parsed.scheme == "" and uri.startswith("/"):
            return Path(uri)
        raise ValueError(f"not an S3 URI or an absolute local path: {uri!r}")

    def download(self, uri: str, destination: Path, *, shard: tuple[int, int] | None = None) -> list[Path]:
        """Copy what `uri` names into `destination` (S3Prefix semantics); raise when it names nothing. With
        `shard` (index, count): only that share of the objects, as a channel sharded by S3 key gives each host
        (every count-th object in key order, from the index-th: nothing when there are fewer objects than hosts)."""
        source = self.path(uri)
        destination.mkdir(parents=True, exist_ok=True)
        index, count = shard or (0, 1)
        if source.is_file():
            objects, root = [source], source.parent
        else:
            objects, root = (sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else []), source
        if not objects:
            raise FileNotFoundError(f"nothing at {uri} (looked at {source})")
        copied = []
        for path in objects[index::count]:
            target = destination / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied.append(target)
        return copied

    def upload(self, source: Path, uri: str, *, replace: bool = True) -> None:
        """Put a folder's files (or one file) under `uri`, replacing what was there (else beside it)."""
        target = self.path(uri)
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            return
        if replace:
            shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
