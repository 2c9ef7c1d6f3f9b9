"""Downloads: Hugging Face (hub calls replaced by fakes: no network in tests), URLs with HTTP
Range resume from a local server, and the offline message."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from inspector.core.errors import Cancelled, InspectorError
from inspector.weights.download import PARTIAL_DIR, DownloadUnavailable, download
from inspector.weights.manifest import load_manifest
from inspector.weights.verify import MISSING, VERIFIED, check_model
from weights_fixtures import isolate_env, tiny_models


@pytest.fixture
def env(monkeypatch, tmp_path, tmp_path_factory):
    tiny = tiny_models(tmp_path_factory)
    root, manifest = isolate_env(monkeypatch, tmp_path, tiny)
    return tiny, root, load_manifest(manifest)


def fake_hub(sources: dict[str, Path], calls: list, cancel_after: int | None = None):
    """Stands in for huggingface_hub.hf_hub_download: serves files from local folders."""
    from huggingface_hub.errors import EntryNotFoundError

    def hf_hub_download(repo_id, filename, *, revision=None, local_dir=None, tqdm_class=None, **kw):
        calls.append((repo_id, filename, revision))
        src = sources[repo_id] / filename
        if not src.is_file():
            raise EntryNotFoundError(f"404: {filename}")
        data = src.read_bytes()
        bar = tqdm_class(total=len(data), desc=filename)
        dest = Path(local_dir) / filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as f:
            for i in range(0, len(data), 100_000):
                f.write(data[i:i + 100_000])
                bar.update(len(data[i:i + 100_000]))
                if cancel_after is not None and len(calls) >= cancel_after:
                    raise AssertionError("cancel was not honoured")
        bar.close()
        return str(dest)

    return hf_hub_download


def test_offline_gives_the_files_and_the_import_command(env, monkeypatch):
    from huggingface_hub.errors import OfflineModeIsEnabled

    tiny, root, manifest = env

    def offline(*a, **k):
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", offline)
    with pytest.raises(DownloadUnavailable) as exc:
        download("tiny-gdino", manifest=manifest, root=root)
    msg = str(exc.value)
    assert "https://huggingface.co/test-org/tiny-gdino/resolve/main/config.json" in msg
    assert "model.safetensors" in msg and "OfflineModeIsEnabled" in msg
    assert "inspector models import PATH" in msg and str(root / "tiny-gdino") in msg
    assert check_model(manifest.get("tiny-gdino"), root).status == MISSING


def test_unreachable_url_gives_the_message(env):
    tiny, root, manifest = env  # the test manifest's SAM URL points at a closed local port
    with pytest.raises(DownloadUnavailable) as exc:
        download("tiny-sam", manifest=manifest, root=root)
    assert "http://127.0.0.1:9/sam_tiny_0001.pth" in str(exc.value)
    assert "inspector models import PATH" in str(exc.value)


def test_hub_download_falls_back_to_the_alternative_and_verifies(env, monkeypatch):
    tiny, root, manifest = env
    calls: list = []
    monkeypatch.setattr("huggingface_hub.hf_hub_download",
                        fake_hub({"test-org/tiny": tiny.clip.parent}, calls))
    seen = []
    st = download("tiny-clip", lambda d, t, m: seen.append((d, t, m)), manifest=manifest, root=root)
    assert st.status == VERIFIED and st.path == root / "tiny-clip" / tiny.clip.name
    assert [c[1] for c in calls] == ["open_clip_model.safetensors", tiny.clip.name]
    assert calls[0][2] == "main"  # the manifest's revision is passed on
    assert seen and seen[-1][0] == seen[-1][1] == tiny.clip.stat().st_size
    assert not (root / PARTIAL_DIR / "tiny-clip").exists()
    calls.clear()
    assert download("tiny-clip", manifest=manifest, root=root).usable and calls == []  # present


def test_hub_download_of_a_folder_model(env, monkeypatch):
    tiny, root, manifest = env
    calls: list = []
    monkeypatch.setattr("huggingface_hub.hf_hub_download",
                        fake_hub({"test-org/tiny-sd-inpainting": tiny.sd_inpaint}, calls))
    st = download("tiny-sd-inpainting", manifest=manifest, root=root)
    assert st.status == VERIFIED and st.path == root / "tiny-sd-inpainting"
    assert check_model(manifest.get("tiny-sd-inpainting"), root, full=True).status == VERIFIED
    assert len(calls) == len(manifest.get("tiny-sd-inpainting").files)


def test_cancel_keeps_partial_files_for_resume(env, monkeypatch):
    tiny, root, manifest = env
    calls: list = []
    monkeypatch.setattr("huggingface_hub.hf_hub_download",
                        fake_hub({"test-org/tiny-sd": tiny.sd}, calls, cancel_after=3))
    with pytest.raises(Cancelled):
        download("tiny-sd", cancel=lambda: len(calls) >= 3, manifest=manifest, root=root)
    assert (root / PARTIAL_DIR / "tiny-sd").is_dir()
    assert check_model(manifest.get("tiny-sd"), root).status == MISSING


class _RangeHandler(BaseHTTPRequestHandler):
    payload = b""
    ranges: list = []

    def do_GET(self):  # noqa: N802 (http.server API)
        data, start = self.payload, 0
        rng = self.headers.get("Range")
        self.ranges.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_url_download_resumes_with_a_range_request(env, tmp_path, http_server):
    tiny, root, _ = env
    data = tiny.sam.read_bytes()
    _RangeHandler.payload, _RangeHandler.ranges = data, []
    url = f"http://127.0.0.1:{http_server.server_port}/sam_tiny_0001.pth"
    manifest = load_manifest(tiny.write_manifest(tmp_path / "m.toml", sam_url=url))
    part = root / PARTIAL_DIR / "tiny-sam" / (tiny.sam.name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:12345])  # what an interrupted download left behind
    st = download("tiny-sam", manifest=manifest, root=root)
    assert _RangeHandler.ranges == ["bytes=12345-"]
    assert st.usable and (root / "tiny-sam" / tiny.sam.name).read_bytes() == data
    assert check_model(manifest.get("tiny-sam"), root, full=True).status == VERIFIED


def test_url_download_of_wrong_bytes_installs_nothing(env, tmp_path, http_server):
    tiny, root, _ = env
    _RangeHandler.payload, _RangeHandler.ranges = b"<html>not found</html>" * 10, []
    url = f"http://127.0.0.1:{http_server.server_port}/sam_tiny_0001.pth"
    manifest = load_manifest(tiny.write_manifest(tmp_path / "m.toml", sam_url=url))
    with pytest.raises(InspectorError, match="failed verification"):
        download("tiny-sam", manifest=manifest, root=root)
    assert not (root / "tiny-sam").exists() and not (root / PARTIAL_DIR / "tiny-sam").exists()
