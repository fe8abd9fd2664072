"""Fetching dataset files: verified, resumable, retried, and never half-present.

A file appears at its final path only after its SHA-256 matches: bytes go to `<dest>.part`
(kept between attempts so an interrupted transfer resumes with an HTTP Range request), are
hashed, and are renamed into place. A mismatch deletes the partial file and names the URL,
the expected and the actual digest. Sources may be https://, http://, file:// URLs or plain
local paths (a mirror or a copy made on a login node), all verified the same way.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
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


class UnsafeArchiveError(ValueError):
    """An archive member would escape the target folder, is a device, or the archive is too large."""


def sha256_of(path: str | os.PathLike) -> str:
    return digest_of(path, "sha256")


def digest_of(path: str | os.PathLike, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def _fetch_http_once(url: str, part: Path, timeout: float, name: str) -> None:
    """One attempt: resume `part` if it holds bytes; raise on any failure."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to fetch: the partial file is complete
            return
        raise
    with response:
        if have and response.status != 206:  # server ignored the Range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as out, _progress(total, have, name) as bar:
            received = have
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received < total:
            raise http.client.IncompleteRead(b"", total - received)


def _retryable(err: Exception) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code >= 500 or err.code in (408, 429)
    return isinstance(err, urllib.error.URLError | OSError | http.client.HTTPException | TimeoutError)


def fetch(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    md5: str | None = None,
    timeout: float = 60.0,
    retries: int = 5,
    backoff_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Fetch `url` to `dest`, verified against `sha256`; return `dest`.

    `md5` is accepted instead for sources that publish only an MD5 (CIFAR-10, STL-10);
    SHA-256 is used whenever it is known.

    HTTP(S) transfers are retried on connection errors, time-outs and 5xx answers with
    exponential back-off (backoff_s * 2**attempt, at most 60 s), resuming from the bytes
    already received. A 4xx answer fails at once. An existing `dest` with the right
    checksum is kept as it is.
    """
    dest = Path(dest)
    if not sha256 and not md5:
        raise ValueError(f"{url}: a SHA-256 or MD5 checksum is required to fetch it")
    algorithm, label = ("sha256", "SHA-256") if sha256 else ("md5", "MD5")
    expected = (sha256 or md5).lower()
    if dest.exists():
        actual = digest_of(dest, algorithm)
        if actual == expected:
            return dest
        raise ChecksumError(
            f"{dest} exists but its {label} is {actual}, expected {expected}; delete it to fetch it again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if _is_local(url):
        source = _local_path(url)
        if not source.is_file():
            raise DownloadError(f"{url}: no such local file")
        with open(source, "rb") as src, open(part, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK_BYTES)
    else:
        for attempt in range(retries + 1):
            try:
                _fetch_http_once(url, part, timeout, dest.name)
                break
            except Exception as err:  # noqa: BLE001 - classified right below
                if isinstance(err, urllib.error.HTTPError) and not _retryable(err):
                    part.unlink(missing_ok=True)
                    raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
                if not _retryable(err) or attempt == retries:
                    raise DownloadError(
                        f"{url}: failed after {attempt + 1} attempt(s): {err!r}; "
                        f"{part.stat().st_size if part.exists() else 0} bytes kept in {part} for resuming"
                    ) from err
                wait = min(60.0, backoff_s * 2**attempt)
                print(f"{url}: attempt {attempt + 1} failed ({err!r}); retry in {wait:g} s", file=sys.stderr)
                sleep(wait)
    actual = digest_of(part, algorithm)
    if actual != expected:
        part.unlink()
        raise ChecksumError(f"{url}: {label} mismatch: expected {expected}, got {actual}")
    os.replace(part, dest)
    return dest


def _check_member_name(name: str, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member '{name}' would be written outside the target folder")


def extract(archive: str | os.PathLike, target: str | os.PathLike, max_bytes: int) -> Path:
    """Unpack a .tar(.gz/.bz2/.xz) or .zip archive into `target`, refusing unsafe content.

    Refused: absolute member paths, `..` components, links that point outside `target`,
    device files and FIFOs, and archives whose members add up to more than `max_bytes`.
    The members are unpacked into a temporary sibling folder that is renamed to `target`
    only when everything succeeded (runtime.atomic_path).
    """
    archive, target = Path(archive), Path(target)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()
                for info in members:
                    _check_member_name(info.filename, archive)
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchiveError(f"{archive}: member '{info.filename}' is a symbolic link")
                _check_total(sum(i.file_size for i in members), max_bytes, archive)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for member in members:
                    _check_member_name(member.name, archive)
                    if member.isdev():
                        raise UnsafeArchiveError(f"{archive}: member '{member.name}' is a device or FIFO")
                _check_total(sum(m.size for m in members if m.isfile()), max_bytes, archive)
                try:
                    tf.extractall(tmp, filter="data")  # also rejects links that leave the folder
                except tarfile.FilterError as err:
                    raise UnsafeArchiveError(f"{archive}: {err}") from err
        else:
            raise UnsafeArchiveError(f"{archive}: not a tar or zip archive")
    return target


def _check_total(total: int, max_bytes: int, archive: Path) -> None:
    if total > max_bytes:
        raise UnsafeArchiveError(f"{archive}: unpacks to {total} bytes, more than the allowed {max_bytes}")
