"""Reading arXiv's own metadata files (``.abs`` files and listings) from files, folders and tar archives.

The text formats themselves are parsed by :mod:`paperboy.sources.arxiv_format`; this module finds the files
and decides which format each one is.

Archives are streamed member by member and never extracted.  Damage half-way through an archive
(a truncated download, a corrupt block) does not lose what came before it: every readable record is
yielded first, then one :class:`Reject` describes the damage.  Only an input that cannot be opened
at all (missing path, not an archive) raises :class:`SourceError`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import stat
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from paperboy.papers import Paper
from paperboy.sources.arxiv_format import decode, listing_archive, parse_abs, parse_listing
from paperboy.sources.base import Records, Reject, SourceError

__all__ = ["iter_path"]

FORMATS = ("auto", "abs", "listing")
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


# --------------------------------------------------------------------------- files, directories, archives


def _looks_like_listing(text: str) -> bool:
    """True if some line is an id line right after a ``\\\\`` line (how listing entries begin)."""
    return bool(re.search(r"^\\\\[ \t]*\r?\n(?:arXiv|Paper)\b", text, re.M | re.I))


def _kind(name: str, text: str, fmt: str) -> str | None:
    """``abs``, ``listing`` or None for a file called ``name`` (a relative or absolute path)."""
    if fmt != "auto":
        return fmt
    parts = PurePosixPath(name).parts
    if name.lower().endswith(".abs"):
        return "abs"
    if "listings" in parts[:-1] or _looks_like_listing(text):
        return "listing"
    return None


def _iter_blob(data: bytes, name: str, fmt: str, source: str, where: str) -> Iterator[Paper | Reject]:
    """Records of one file's bytes; ``where`` prefixes reject locations ("member x", "file x", "")."""
    location = where or "whole file"
    if not data.strip():
        yield Reject(source, location, "empty file")
        return
    text = decode(data)
    kind = _kind(name, text, fmt)
    if kind == "abs":
        try:
            yield parse_abs(text)
        except ValueError as exc:
            yield Reject(source, location, str(exc), data.decode("utf-8", errors="replace"))
    elif kind == "listing":
        yield from parse_listing(text, source=source, where=where, listed_in=listing_archive(name))
    else:
        yield Reject(source, location, "unknown file kind", data[:4096].decode("utf-8", errors="replace"))


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(_ARCHIVE_SUFFIXES)


class _Counting:
    """A read-only file wrapper that counts the bytes read, to check the tar end marker was there."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _decompressed(fh: IO[bytes]) -> IO[bytes]:
    """Wrap ``fh`` by its magic bytes; these readers raise EOFError on a truncated stream."""
    head = fh.peek(6)[:6] if hasattr(fh, "peek") else b""
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(fh, mode="rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(fh, mode="rb")
    return fh


_DAMAGE = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def _iter_archive(path: Path, fmt: str, source: str, where: str) -> Iterator[Paper | Reject]:
    """Stream a tar archive's members in archive order, never extracting to disk."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SourceError(f"cannot read archive {path}: {exc}") from exc
    with fh, _decompressed(fh) as raw:
        stream = _Counting(raw)
        try:
            tf = tarfile.open(fileobj=stream, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115 (closed below)
        except _DAMAGE as exc:
            raise SourceError(f"{path} is not a readable tar archive: {exc}") from exc
        count, last = 0, None  # members read whole, and the last of them
        with tf:
            try:
                for member in tf:
                    loc = f"{where}: member {member.name}" if where else f"member {member.name}"
                    if member.isfile():
                        extracted = tf.extractfile(member)
                        data = extracted.read() if extracted else b""
                        count, last = count + 1, member.name
                        yield from _iter_blob(data, member.name, fmt, source, loc)
                    else:
                        count, last = count + 1, member.name
                        if not member.isdir():
                            yield Reject(source, loc, "not a regular file (link or device): skipped")
                end_of_data = tf.offset
                stream.drain()  # reads the compressed stream to its end: checks its trailer
            except _DAMAGE as exc:
                yield _damage(source, where, count, last, exc)
                return
        if stream.count < end_of_data + tarfile.BLOCKSIZE:
            yield _damage(source, where, count, last, EOFError("archive ends without its end-of-archive block"))


def _damage(source: str, where: str, count: int, last: str | None, exc: BaseException) -> Reject:
    """The reject that says an archive broke off, and after which member."""
    after = f"after member {last}" if last else "before the first member"
    loc = f"{where}: {after}" if where else after
    return Reject(
        source,
        loc,
        f"archive is truncated or corrupt ({type(exc).__name__}: {exc}); "
        f"{count} members were read before the damage, anything after it is lost",
    )


def _iter_dir(path: Path, fmt: str, source: str) -> Iterator[Paper | Reject]:
    """Every regular file under ``path`` in sorted path order; archives inside are streamed too.

    Symbolic links (to files or folders) and special files (FIFOs, devices) are skipped, as non-file tar
    members are: a link could pull in any file the user can read (``x.abs -> /etc/passwd``) and a FIFO
    would block the run.
    """
    for file in sorted(_regular_files(path)):
        rel = file.relative_to(path).as_posix()
        where = f"file {rel}"
        if _is_archive(file):
            try:
                yield from _iter_archive(file, fmt, source, where)
            except SourceError as exc:
                yield Reject(source, where, str(exc))
            continue
        try:
            data = file.read_bytes()
        except OSError as exc:
            yield Reject(source, where, f"cannot read file: {exc}")
            continue
        yield from _iter_blob(data, rel, fmt, source, where)


def _regular_files(root: Path) -> Iterator[Path]:
    """Regular files under ``root``, never following a symbolic link (``rglob`` would follow file links)."""
    for folder, dirs, files in os.walk(root):  # os.walk does not descend into linked folders
        base = Path(folder)
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
        for name in files:
            file = base / name
            if stat.S_ISREG(file.lstat().st_mode):
                yield file


def iter_path(path: Path | str, fmt: str = "auto") -> Records:
    """Records from an ``.abs`` file, a listing file, a directory tree or a tar archive.

    ``fmt`` forces every file to be read as ``abs`` or ``listing``; ``auto`` decides per file (an
    ``.abs`` suffix, a ``listings/`` folder, or listing-like content, else a Reject "unknown file
    kind").  A missing path raises SourceError at once; an archive that cannot be opened at all
    raises it when iteration starts.  Damage later in an archive (truncation, a corrupt block) is
    yielded as a final Reject after every record before it, so no good record is lost.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    path = Path(path)
    if not path.exists():
        raise SourceError(f"no such file or directory: {path}")
    return _iter_path(path, fmt)


def _iter_path(path: Path, fmt: str) -> Iterator[Paper | Reject]:
    source = str(path)
    if path.is_dir():
        yield from _iter_dir(path, fmt, source)
        return
    if _is_archive(path):
        yield from _iter_archive(path, fmt, source, "")
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    yield from _iter_blob(data, path.as_posix(), fmt, source, "")
