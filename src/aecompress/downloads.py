"""Fetching dataset files: verified, resumable, retried, and never half-present.

A file appears at its final path only after its SHA-256 matches: bytes go to `<dest>.part`
(kept between attempts so an interrupted transfer resumes with an HTTP Range request), are
hashed, and are renamed into place. A mismatch deletes the partial file and names the URL,
the expected and the actual digest. Sources may be https://, http://, file:// URLs or plain
local paths (a mirror or a copy made on a login node), all verified the same way.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from aecompress.runtime import atomic_path

CHUNK_BYTES = 1 << 20
USER_AGENT = "aecompress-downloader/1"


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the URL and the reason."""


class ChecksumError(DownloadError):
    """The fetched bytes do not have the expected SHA-256."""


class _FinalError(DownloadError):
    """A failure that another attempt cannot fix (too many bytes, a refused redirect). The
    partial file is deleted, unless `keep_partial` (the deadline: a later run may resume it)."""

    keep_partial = False


class _DeadlineError(_FinalError):
    keep_partial = True


class UnsafeArchiveError(ValueError):
    """An archive member would escape the target folder, is a device, or the archive is too large."""


# Local file-system errors: retrying cannot help, and a full disk must not be filled again.
_LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR}


def default_deadline(size: int | None) -> float:
    """Seconds a whole fetch may take, all attempts together: 10 minutes plus the expected size
    at 100 kB/s (1 hour when the size is unknown). A server that trickles bytes just fast enough
    to beat every per-read time-out still stops here."""
    return 3600.0 if size is None else 600.0 + size / 100_000


def sha256_of(path: str | os.PathLike) -> str:
    return digest_of(path, "sha256")


def digest_of(path: str | os.PathLike, algorithm: str) -> str:
    return digests_of(path, [algorithm])[algorithm]


def digests_of(path: str | os.PathLike, algorithms: list[str]) -> dict[str, str]:
    """Every digest in one pass over the file."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            for digest in digests.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in digests.items()}


_LABELS = {"sha256": "SHA-256", "md5": "MD5"}


def _mismatch(path: str | os.PathLike, expected: dict[str, str]) -> tuple[str, str, str] | None:
    """(label, expected, actual) of the first digest of `path` that differs, else None."""
    actual = digests_of(path, list(expected))
    for name, value in expected.items():
        if actual[name] != value:
            return _LABELS[name], value, actual[name]
    return None


def _progress(total: int | None, initial: int, name: str):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, desc=name, file=sys.stderr,
        mininterval=5.0, disable=False,
    )  # fmt: skip


def _is_local(url: str) -> bool:
    return urllib.parse.urlparse(url).scheme in ("", "file")


def _local_path(url: str) -> Path:
    parsed = urllib.parse.urlparse(url)
    return Path(urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else url)


class _NoDowngradeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never from https to plain http (the bytes are verified by their
    checksum either way, but a downgrade is how a transfer gets tampered with or replaced)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlparse(req.full_url).scheme, urllib.parse.urlparse(newurl).scheme
        if old == "https" and new != "https":
            raise _FinalError(f"{req.full_url}: redirected to {newurl}, from https to {new}: refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_NoDowngradeRedirects)


class _Budget:
    """The byte and time limits of one fetch: at most `size` bytes (when known), before `deadline`."""

    def __init__(self, url: str, size: int | None, deadline_s: float, clock: Callable[[], float]):
        self.url, self.size, self.clock = url, size, clock
        self.deadline = clock() + deadline_s
        self.deadline_s = deadline_s

    def check_bytes(self, received: int, announced: int | None = None) -> None:
        if self.size is not None and received > self.size:
            raise _FinalError(f"{self.url}: more than the expected {self.size:,} bytes arrived; stopped")
        if announced is not None and received > announced:
            raise _FinalError(
                f"{self.url}: more bytes arrived than the {announced:,} the server announced; stopped"
            )

    def check_time(self, part: Path) -> None:
        if self.clock() > self.deadline:
            have = part.stat().st_size if part.exists() else 0
            raise _DeadlineError(
                f"{self.url}: not complete after {self.deadline_s:,.0f} s (the whole fetch's deadline); "
                f"stopped, {have:,} bytes kept in {part} for resuming by a later run"
            )


def _resume_offset(response, have: int) -> int:
    """Where the reply's body starts: `have` for a 206 whose Content-Range says so, else 0."""
    if response.status != 206:
        return 0
    content_range = response.headers.get("Content-Range", "")
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", content_range)
    if not match or int(match.group(1)) != have:
        raise _RestartTransfer(f"a partial reply for bytes {have}- came with Content-Range {content_range!r}")
    return have


class _RestartTransfer(Exception):
    """The server's partial reply does not continue the partial file: start from byte 0."""


def _fetch_http_once(url: str, part: Path, timeout: float, name: str, budget: _Budget) -> None:
    """One attempt: resume `part` if it holds bytes; raise on any failure."""
    have = part.stat().st_size if part.exists() else 0
    budget.check_bytes(have)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to fetch: the partial file is complete
            return
        raise
    with response:
        try:
            have = _resume_offset(response, have)
        except _RestartTransfer:
            part.unlink(missing_ok=True)
            raise
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None and length.isdigit() else None
        budget.check_bytes(total or 0)  # an announced size beyond the expected one is refused at once
        with open(part, "ab" if have else "wb") as out, _progress(total, have, name) as bar:
            received = have
            # read1 returns what one read of the socket brings: the deadline is checked between
            # reads even when a server trickles a byte at a time.
            while chunk := response.read1(CHUNK_BYTES):
                received += len(chunk)
                budget.check_bytes(received, total)
                out.write(chunk)
                bar.update(len(chunk))
                budget.check_time(part)
        if total is not None and received < total:
            raise http.client.IncompleteRead(b"", total - received)


def _retryable(err: Exception) -> bool:
    if isinstance(err, _FinalError):
        return False
    if isinstance(err, urllib.error.HTTPError):
        return err.code >= 500 or err.code in (408, 429)
    if isinstance(err, _RestartTransfer):
        return True
    if isinstance(err, OSError) and err.errno in _LOCAL_ERRNOS:
        return False
    return isinstance(err, urllib.error.URLError | OSError | http.client.HTTPException | TimeoutError)


def fetch(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    md5: str | None = None,
    size: int | None = None,
    timeout: float = 60.0,
    retries: int = 5,
    backoff_s: float = 2.0,
    deadline_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Path:
    """Fetch `url` to `dest`, verified against `sha256`; return `dest`.

    `md5` is accepted instead for sources that publish only an MD5 (CIFAR-10, STL-10); when
    both are given both are verified (two independent sources must agree on the bytes).
    `size` (bytes, from the registry) bounds the transfer: once more bytes arrive than
    expected, or than the server announced, it stops
    and the partial file is deleted, so a server that streams forever cannot fill the disk.

    HTTP(S) transfers are retried on connection errors, time-outs and 5xx answers with
    exponential back-off (backoff_s * 2**attempt, at most 60 s), resuming from the bytes
    already received (a 206 reply must continue exactly there, by its Content-Range). A 4xx
    answer, a redirect from https to http, too many bytes, the overall `deadline_s` (default:
    `default_deadline(size)`) and local disk errors (full, read-only, no permission) fail at
    once. An existing `dest` with the right checksum is kept as it is, with no request made.
    """
    dest = Path(dest)
    if not sha256 and not md5:
        raise ValueError(f"{url}: a SHA-256 or MD5 checksum is required to fetch it")
    expected = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}
    if dest.exists():
        wrong = _mismatch(dest, expected)
        if wrong is None:
            return dest
        label, want, actual = wrong
        raise ChecksumError(
            f"{dest} exists but its {label} is {actual}, expected {want}; delete it to fetch it again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    budget = _Budget(url, size, default_deadline(size) if deadline_s is None else deadline_s, clock)
    try:
        if _is_local(url):
            _copy_local(url, part, budget)
        else:
            _fetch_http(url, part, timeout, dest.name, budget, retries, backoff_s, sleep)
    except _FinalError as err:
        if not err.keep_partial:
            part.unlink(missing_ok=True)
        raise
    except OSError as err:
        if err.errno in _LOCAL_ERRNOS:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: cannot write {part} ({err}); the partial file was removed") from err
        raise
    wrong = _mismatch(part, expected)
    if wrong is not None:
        part.unlink()
        label, want, actual = wrong
        raise ChecksumError(f"{url}: {label} mismatch: expected {want}, got {actual}")
    os.replace(part, dest)
    return dest


def _copy_local(url: str, part: Path, budget: _Budget) -> None:
    source = _local_path(url)
    if not source.is_file():
        raise DownloadError(f"{url}: no such local file")
    limit = budget.size + 1 if budget.size is not None else None
    with open(source, "rb") as src, open(part, "wb") as out:
        copied = 0
        while chunk := src.read(CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit - copied)):
            copied += len(chunk)
            budget.check_bytes(copied)
            out.write(chunk)
            if limit is not None and copied >= limit:
                break


def _fetch_http(url, part, timeout, name, budget, retries, backoff_s, sleep) -> None:
    for attempt in range(retries + 1):
        try:
            _fetch_http_once(url, part, timeout, name, budget)
            return
        except Exception as err:  # noqa: BLE001 - classified right below
            if isinstance(err, _FinalError) or (isinstance(err, OSError) and err.errno in _LOCAL_ERRNOS):
                raise  # fetch() says what is left on disk
            if isinstance(err, urllib.error.HTTPError) and not _retryable(err):
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
            if not _retryable(err) or attempt == retries:
                raise DownloadError(
                    f"{url}: failed after {attempt + 1} attempt(s): {err!r}; "
                    f"{part.stat().st_size if part.exists() else 0} bytes kept in {part} for resuming"
                ) from err
            budget.check_time(part)
            wait = min(60.0, backoff_s * 2**attempt)
            print(f"{url}: attempt {attempt + 1} failed ({err!r}); retry in {wait:g} s", file=sys.stderr)
            sleep(wait)


DEFAULT_MAX_EXTRACT_MEMBERS = 1_000_000  # CLIC/DIV2K zips hold thousands; a member-count bomb, millions


def _check_member_name(name: str, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member '{name}' would be written outside the target folder")


def _check_count(count: int, max_members: int, archive: Path) -> None:
    if count > max_members:
        raise UnsafeArchiveError(
            f"{archive}: holds more than {max_members:,} members (max_extract_members); refused"
        )


def extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    max_bytes: int,
    max_members: int = DEFAULT_MAX_EXTRACT_MEMBERS,
) -> Path:
    """Unpack a .tar(.gz/.bz2/.xz) or .zip archive into `target`, refusing unsafe content.

    Refused: absolute member paths, `..` components, links (symbolic or hard) that point
    outside `target` and symbolic links in zips, device files and FIFOs, archives whose
    members add up to more than `max_bytes`, and archives of more than `max_members` members
    (counted as they are listed, so a member-count bomb is not listed whole into memory).
    The members are unpacked into a temporary sibling folder that is renamed to `target`
    only when everything succeeded (runtime.atomic_path).
    """
    archive, target = Path(archive), Path(target)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()  # the central directory: its size bounds this list
                _check_count(len(members), max_members, archive)
                for info in members:
                    _check_member_name(info.filename, archive)
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchiveError(f"{archive}: member '{info.filename}' is a symbolic link")
                _check_total(sum(i.file_size for i in members), max_bytes, archive)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = []
                for member in tf:  # streamed: stops at the limit instead of listing everything
                    members.append(member)
                    _check_count(len(members), max_members, archive)
                    _check_member_name(member.name, archive)
                    if member.isdev():
                        raise UnsafeArchiveError(f"{archive}: member '{member.name}' is a device or FIFO")
                _check_total(sum(m.size for m in members if m.isfile()), max_bytes, archive)
                try:
                    tf.extractall(tmp, members=members, filter="data")  # also rejects links leaving it
                except tarfile.FilterError as err:
                    raise UnsafeArchiveError(f"{archive}: {err}") from err
        else:
            raise UnsafeArchiveError(f"{archive}: not a tar or zip archive")
    return target


def _check_total(total: int, max_bytes: int, archive: Path) -> None:
    if total > max_bytes:
        raise UnsafeArchiveError(f"{archive}: unpacks to {total} bytes, more than the allowed {max_bytes}")
