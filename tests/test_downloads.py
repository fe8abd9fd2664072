"""Downloads over HTTP on 127.0.0.1 (scripted faults), via file://, and archive safety.

The real MNIST file of the offline mirror (../shared/datasets) is fetched and verified against
its official SHA-256; every other test serves bytes made here, so it runs without the mirror.
"""

import errno
import hashlib
import io
import os
import tarfile
import threading
import time
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aecompress.downloads import (
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    _NoDowngradeRedirects,
    extract,
    fetch,
    sha256_of,
)

LABELS = "mnist/t10k-labels-idx1-ubyte.gz"
LABELS_SHA256 = "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"  # official file
DATA = os.urandom(3 * 2**20 + 12345)  # served as /data.bin: several read chunks
DATA_SHA256 = hashlib.sha256(DATA).hexdigest()


class FaultyServer(BaseHTTPRequestHandler):
    """Serves `files` with Range support and scripted faults, keyed by a path prefix:
    /fail500-N/...: the first N requests answer 500; /cut/...: the first request sends half
    of the body and drops the connection; /badrange/...: like /cut, then a Range request is
    answered 206 from byte 0; /endless/...: the file, then more bytes forever, without a
    Content-Length; /liar/...: announces twice the file's length; /trickle/...: a byte at a
    time, 20 ms apart."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        prefix, _, rest = self.path.lstrip("/").partition("/")
        counter = self.server.counts.setdefault(self.path, 0)
        self.server.counts[self.path] = counter + 1
        self.server.requests.append((self.path, self.headers.get("Range")))
        if not (prefix.startswith("fail500-") or prefix in FAULTS):
            rest = self.path.lstrip("/")
        if prefix.startswith("fail500-") and counter < int(prefix.split("-")[1]):
            self.send_error(500, "scripted failure")
            return
        if rest not in self.server.files:
            self.send_error(404, "not found")
            return
        data = self.server.files[rest]
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
            if prefix == "badrange":  # claims, and sends, the whole file instead of its tail
                start = 0
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if prefix == "endless":
            self.end_headers()
            try:
                self.wfile.write(body)
                while True:
                    self.wfile.write(b"\0" * 65536)
            except OSError:  # the client hung up
                return
        self.send_header("Content-Length", str(2 * len(body) if prefix == "liar" else len(body)))
        self.end_headers()
        if prefix in ("cut", "badrange") and counter == 0:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if prefix == "trickle":
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(0.02)
            except OSError:
                return
            return
        try:
            self.wfile.write(body)
        except OSError:  # the client refused the rest (/liar)
            return


FAULTS = ("cut", "badrange", "endless", "liar", "trickle")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FaultyServer)
    httpd.counts, httpd.requests, httpd.files = {}, [], {"data.bin": DATA}
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def no_sleep(_seconds):
    pass


def test_the_official_mnist_file_is_verified_and_an_existing_one_is_kept_without_a_request(
    server, tmp_path, mirror
):
    httpd, base = server
    httpd.files[LABELS] = (mirror / LABELS).read_bytes()
    dest = fetch(f"{base}/{LABELS}", tmp_path / "labels.gz", LABELS_SHA256, size=4542, sleep=no_sleep)
    assert sha256_of(dest) == LABELS_SHA256
    assert not (tmp_path / "labels.gz.part").exists()
    requests_before = len(httpd.requests)
    assert fetch(f"{base}/{LABELS}", dest, LABELS_SHA256) == dest  # already there: kept
    assert len(httpd.requests) == requests_before  # and nothing was asked of the server


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    _, base = server
    with pytest.raises(ChecksumError) as err:
        fetch(f"{base}/data.bin", tmp_path / "d.bin", "0" * 64, sleep=no_sleep)
    message = str(err.value)
    assert f"{base}/data.bin" in message and "0" * 64 in message and DATA_SHA256 in message
    assert list(tmp_path.iterdir()) == []


def test_transfer_cut_midway_resumes_with_a_range_request(server, tmp_path):
    httpd, base = server
    dest = fetch(f"{base}/cut/data.bin", tmp_path / "d.bin", DATA_SHA256, size=len(DATA), sleep=no_sleep)
    assert sha256_of(dest) == DATA_SHA256
    ranges = [r for path, r in httpd.requests if path == "/cut/data.bin"]
    assert ranges[0] is None and ranges[1] is not None and int(ranges[1].split("=")[1].rstrip("-")) > 0


def test_a_partial_reply_that_does_not_continue_the_file_restarts_it(server, tmp_path):
    """206 with a Content-Range from byte 0 to a request for bytes N-: appending it would corrupt
    the file; it is discarded and fetched again from the start."""
    httpd, base = server
    dest = fetch(f"{base}/badrange/data.bin", tmp_path / "d.bin", DATA_SHA256, sleep=no_sleep)
    assert sha256_of(dest) == DATA_SHA256
    ranges = [r for path, r in httpd.requests if path == "/badrange/data.bin"]
    assert ranges[0] is None and ranges[1] is not None and ranges[2] is None


def test_a_server_that_streams_forever_is_stopped_at_the_expected_size(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=f"more than the expected {len(DATA):,} bytes arrived"):
        fetch(f"{base}/endless/data.bin", tmp_path / "d.bin", DATA_SHA256, size=len(DATA), sleep=no_sleep)
    assert list(tmp_path.iterdir()) == []  # the partial file is deleted, not left to resume


def test_an_announced_length_beyond_the_expected_size_is_refused_at_once(server, tmp_path):
    httpd, base = server
    with pytest.raises(DownloadError, match="more than the expected"):
        fetch(f"{base}/liar/data.bin", tmp_path / "d.bin", DATA_SHA256, size=len(DATA), sleep=no_sleep)
    assert list(tmp_path.iterdir()) == [] and httpd.counts["/liar/data.bin"] == 1  # not retried


def test_a_trickling_server_hits_the_overall_deadline(server, tmp_path):
    _, base = server
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"not complete after 1 s .*bytes kept in .*d\.bin\.part"):
        fetch(f"{base}/trickle/data.bin", tmp_path / "d.bin", DATA_SHA256, deadline_s=1, sleep=no_sleep)
    assert time.monotonic() - started < 10  # each byte beat the 60 s read time-out
    assert not (tmp_path / "d.bin").exists() and (tmp_path / "d.bin.part").stat().st_size > 0


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    _, base = server
    waits = []
    dest = fetch(
        f"{base}/fail500-2/data.bin", tmp_path / "l.bin", DATA_SHA256, sleep=waits.append, backoff_s=1
    )
    assert sha256_of(dest) == DATA_SHA256 and waits == [1, 2]
    with pytest.raises(DownloadError, match="failed after 2 attempt"):
        fetch(f"{base}/fail500-9/data.bin", tmp_path / "m.bin", DATA_SHA256, retries=1, sleep=no_sleep)


def test_missing_file_fails_at_once_with_the_url(server, tmp_path):
    _, base = server
    waits = []
    with pytest.raises(DownloadError, match=r"nothing\.gz: HTTP 404"):
        fetch(f"{base}/mnist/nothing.gz", tmp_path / "x.gz", LABELS_SHA256, sleep=waits.append)
    assert waits == [] and list(tmp_path.iterdir()) == []


def test_a_full_disk_is_not_retried_and_leaves_no_partial_file(server, tmp_path):
    _, base = server
    (tmp_path / "d.bin.part").symlink_to("/dev/full")  # every write fails with ENOSPC
    waits = []
    with pytest.raises(DownloadError, match="No space left on device") as err:
        fetch(f"{base}/data.bin", tmp_path / "d.bin", DATA_SHA256, sleep=waits.append)
    assert isinstance(err.value.__cause__, OSError) and err.value.__cause__.errno == errno.ENOSPC
    assert waits == [] and list(tmp_path.iterdir()) == []


def test_a_redirect_from_https_to_http_is_refused():
    handler = _NoDowngradeRedirects()
    request = urllib.request.Request("https://example.org/data.bin")
    with pytest.raises(DownloadError, match="from https to http: refused"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://example.org/data.bin")
    same = handler.redirect_request(request, None, 302, "Found", {}, "https://mirror.example.org/data.bin")
    assert same.full_url == "https://mirror.example.org/data.bin"


def test_file_url_and_local_path_are_verified_and_bounded(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(DATA)
    assert sha256_of(fetch(source.as_uri(), tmp_path / "a.bin", DATA_SHA256)) == DATA_SHA256
    assert sha256_of(fetch(str(source), tmp_path / "b.bin", DATA_SHA256)) == DATA_SHA256
    with pytest.raises(ChecksumError):
        fetch(str(source), tmp_path / "c.bin", LABELS_SHA256)
    assert fetch(str(source), tmp_path / "e.bin", md5=hashlib.md5(DATA).hexdigest()).exists()
    with pytest.raises(ChecksumError, match="MD5 mismatch"):
        fetch(str(source), tmp_path / "f.bin", md5="0" * 32)
    with pytest.raises(DownloadError, match="no such local file"):
        fetch(str(tmp_path / "absent"), tmp_path / "d.bin", DATA_SHA256)
    with pytest.raises(DownloadError, match="more than the expected 1,000 bytes"):
        fetch(str(source), tmp_path / "g.bin", DATA_SHA256, size=1000)
    assert not (tmp_path / "g.bin.part").exists() and not (tmp_path / "g.bin").exists()


def _tar_with(tmp_path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (tarfile.TarInfo("../evil.txt"), "'../evil.txt' would be written outside the target folder"),
        (tarfile.TarInfo("/etc/evil.txt"), "'/etc/evil.txt' would be written outside the target folder"),
    ],
)
def test_archive_members_that_escape_are_rejected(tmp_path, member, expected):
    archive = _tar_with(tmp_path, member, b"x")
    with pytest.raises(UnsafeArchiveError, match=expected):
        extract(archive, tmp_path / "out", max_bytes=10**6)
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_links_out_devices_and_oversize_archives_are_rejected(tmp_path):
    link = tarfile.TarInfo("data/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
    with pytest.raises(UnsafeArchiveError, match="'data/link' would link to '.*outside'"):
        extract(_tar_with(tmp_path, link), tmp_path / "out", max_bytes=10**6)
    hard = tarfile.TarInfo("data/hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
    with pytest.raises(UnsafeArchiveError, match="'data/hard'"):
        extract(_tar_with(tmp_path, hard), tmp_path / "out", max_bytes=10**6)
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    with pytest.raises(UnsafeArchiveError, match="'dev' is a device or FIFO"):
        extract(_tar_with(tmp_path, device), tmp_path / "out", max_bytes=10**6)
    with pytest.raises(UnsafeArchiveError, match="more than the allowed 10"):
        extract(_tar_with(tmp_path, tarfile.TarInfo("big"), b"y" * 11), tmp_path / "out", max_bytes=10)
    zipped = tmp_path / "z.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("../up.txt", "x")
    with pytest.raises(UnsafeArchiveError, match="'../up.txt' would be written outside"):
        extract(zipped, tmp_path / "out", max_bytes=10**6)
    symlinked = tmp_path / "s.zip"
    with zipfile.ZipFile(symlinked, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="'link' is a symbolic link"):
        extract(symlinked, tmp_path / "out", max_bytes=10**6)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_an_archive_of_too_many_members_is_refused(tmp_path, kind):
    path = tmp_path / f"many.{kind}"
    if kind == "tar":
        with tarfile.open(path, "w") as tf:
            for i in range(50):
                tf.addfile(tarfile.TarInfo(f"f{i}"), io.BytesIO(b""))
    else:
        with zipfile.ZipFile(path, "w") as zf:
            for i in range(50):
                zf.writestr(f"f{i}", b"")
    with pytest.raises(UnsafeArchiveError, match="holds more than 20 members"):
        extract(path, tmp_path / "out", max_bytes=10**6, max_members=20)
    assert not (tmp_path / "out").exists()
    assert len(list(extract(path, tmp_path / "out", max_bytes=10**6, max_members=50).iterdir())) == 50


def test_real_sample_archive_extracts(tmp_path, mirror):
    archive = mirror / "cifar-10-sample" / "cifar-10-binary.tar.gz"
    out = extract(archive, tmp_path / "cifar", max_bytes=200 * 2**20)
    batch = out / "cifar-10-batches-bin" / "test_batch.bin"
    assert batch.stat().st_size == 2000 * 3073  # the sample's 2,000 records of 1 label + 3,072 pixels
    assert sorted(p.name for p in batch.parent.iterdir())[:2] == ["batches.meta.txt", "data_batch_1.bin"]


def test_every_digest_given_is_verified(tmp_path):
    """CLIC and DIV2K carry a SHA-256 and an MD5 from two independent loaders: both must match."""
    source = tmp_path / "src.bin"
    source.write_bytes(DATA)
    md5 = hashlib.md5(DATA).hexdigest()
    assert fetch(str(source), tmp_path / "a.bin", DATA_SHA256, md5=md5).exists()
    with pytest.raises(ChecksumError, match=f"MD5 mismatch: expected {'0' * 32}, got {md5}"):
        fetch(str(source), tmp_path / "b.bin", DATA_SHA256, md5="0" * 32)
    assert not (tmp_path / "b.bin").exists() and not (tmp_path / "b.bin.part").exists()
