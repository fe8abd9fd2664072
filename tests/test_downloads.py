"""Downloads against the offline mirror (../shared/datasets) served on 127.0.0.1, and via file://."""

import io
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aecompress.downloads import ChecksumError, DownloadError, UnsafeArchiveError, extract, fetch, sha256_of

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
LABELS = "mnist/t10k-labels-idx1-ubyte.gz"
LABELS_SHA256 = "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"  # official file
IMAGES = "mnist/t10k-images-idx3-ubyte.gz"
IMAGES_SHA256 = "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"

pytestmark = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"offline mirror not found at {MIRROR}")


class MirrorHandler(SimpleHTTPRequestHandler):
    """Serves the mirror with Range support and scripted faults, keyed by a path prefix:
    /fail500-N/...: the first N requests answer 500; /cut/...: the first request sends half
    of the body and drops the connection."""

    faults: dict = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        prefix, _, rest = self.path.lstrip("/").partition("/")
        counter = self.server.counts.setdefault(self.path, 0)
        self.server.counts[self.path] = counter + 1
        self.server.requests.append((self.path, self.headers.get("Range")))
        if prefix.startswith("fail500-") and counter < int(prefix.split("-")[1]):
            self.send_error(500, "scripted failure")
            return
        if prefix not in ("cut",) and not prefix.startswith("fail500-"):
            rest = self.path.lstrip("/")
        file = MIRROR / rest
        if not file.is_file():
            self.send_error(404, "not found")
            return
        data = file.read_bytes()
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if prefix == "cut" and counter == 0:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(MirrorHandler, directory=str(MIRROR)))
    httpd.counts, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def no_sleep(_seconds):
    pass


def test_complete_download_is_verified(server, tmp_path):
    _, base = server
    dest = fetch(f"{base}/{LABELS}", tmp_path / "labels.gz", LABELS_SHA256, sleep=no_sleep)
    assert sha256_of(dest) == LABELS_SHA256
    assert not (tmp_path / "labels.gz.part").exists()
    assert fetch(f"{base}/{LABELS}", dest, LABELS_SHA256) == dest  # already there: kept


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    _, base = server
    with pytest.raises(ChecksumError) as err:
        fetch(f"{base}/{LABELS}", tmp_path / "labels.gz", "0" * 64, sleep=no_sleep)
    message = str(err.value)
    assert f"{base}/{LABELS}" in message and "0" * 64 in message and LABELS_SHA256 in message
    assert list(tmp_path.iterdir()) == []


def test_transfer_cut_midway_resumes_with_a_range_request(server, tmp_path):
    httpd, base = server
    url = f"{base}/cut/{IMAGES}"
    dest = fetch(url, tmp_path / "images.gz", IMAGES_SHA256, sleep=no_sleep)
    assert sha256_of(dest) == IMAGES_SHA256
    ranges = [r for path, r in httpd.requests if path == f"/cut/{IMAGES}"]
    assert ranges[0] is None and ranges[1] is not None and int(ranges[1].split("=")[1].rstrip("-")) > 0


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    _, base = server
    waits = []
    dest = fetch(
        f"{base}/fail500-2/{LABELS}", tmp_path / "l.gz", LABELS_SHA256, sleep=waits.append, backoff_s=1
    )
    assert sha256_of(dest) == LABELS_SHA256 and waits == [1, 2]
    with pytest.raises(DownloadError, match="failed after 2 attempt"):
        fetch(f"{base}/fail500-9/{LABELS}", tmp_path / "m.gz", LABELS_SHA256, retries=1, sleep=no_sleep)


def test_missing_file_fails_at_once_with_the_url(server, tmp_path):
    _, base = server
    waits = []
    with pytest.raises(DownloadError, match=r"nothing\.gz: HTTP 404"):
        fetch(f"{base}/mnist/nothing.gz", tmp_path / "x.gz", LABELS_SHA256, sleep=waits.append)
    assert waits == [] and list(tmp_path.iterdir()) == []


def test_file_url_and_local_path_are_verified_too(tmp_path):
    source = MIRROR / LABELS
    assert sha256_of(fetch(source.as_uri(), tmp_path / "a.gz", LABELS_SHA256)) == LABELS_SHA256
    assert sha256_of(fetch(str(source), tmp_path / "b.gz", LABELS_SHA256)) == LABELS_SHA256
    with pytest.raises(ChecksumError):
        fetch(str(source), tmp_path / "c.gz", IMAGES_SHA256)
    mnist_md5 = "ec29112dd5afa0611ce80d1b7f02629c"  # published MD5 of t10k-labels
    assert fetch(str(source), tmp_path / "e.gz", md5=mnist_md5).exists()
    with pytest.raises(ChecksumError, match="MD5 mismatch"):
        fetch(str(source), tmp_path / "f.gz", md5="0" * 32)
    with pytest.raises(DownloadError, match="no such local file"):
        fetch(str(tmp_path / "absent"), tmp_path / "d.gz", LABELS_SHA256)


def _tar_with(tmp_path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (tarfile.TarInfo("../evil.txt"), "outside the target folder"),
        (tarfile.TarInfo("/etc/evil.txt"), "outside the target folder"),
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
    with pytest.raises(UnsafeArchiveError):
        extract(_tar_with(tmp_path, link), tmp_path / "out", max_bytes=10**6)
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    with pytest.raises(UnsafeArchiveError, match="device"):
        extract(_tar_with(tmp_path, device), tmp_path / "out", max_bytes=10**6)
    with pytest.raises(UnsafeArchiveError, match="more than the allowed 10"):
        extract(_tar_with(tmp_path, tarfile.TarInfo("big"), b"y" * 11), tmp_path / "out", max_bytes=10)
    zipped = tmp_path / "z.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("../up.txt", "x")
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract(zipped, tmp_path / "out", max_bytes=10**6)
    assert not (tmp_path / "out").exists()


def test_real_sample_archive_extracts(tmp_path):
    archive = MIRROR / "cifar-10-sample" / "cifar-10-binary.tar.gz"
    out = extract(archive, tmp_path / "cifar", max_bytes=200 * 2**20)
    batch = out / "cifar-10-batches-bin" / "test_batch.bin"
    assert batch.stat().st_size == 2000 * 3073  # the sample's 2,000 records of 1 label + 3,072 pixels
    assert sorted(p.name for p in batch.parent.iterdir())[:2] == ["batches.meta.txt", "data_batch_1.bin"]
