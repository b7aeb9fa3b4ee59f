from conftest import write_mp4

from viss_r1.video.probe import fingerprint, probe_media


def test_bad_media_each_gets_its_reason(bad_media_root):
    _, root = bad_media_root
    reasons = {name: probe_media(root, name, "video", min_frames=4) for name in [
        "good_0.mp4", "zero.mp4", "truncated.mp4", "text.mp4", "one_frame.mp4", "missing.mp4", "../outside.mp4"]}
    good = reasons.pop("good_0.mp4")
    assert good.status == "ok" and good.reason == ""
    assert (good.frame_count, good.width, good.height) == (24, 64, 48)
    assert abs(good.fps - 8) < 1e-6 and abs(good.duration_s - 3.0) < 1e-6
    assert all(p.status == "quarantined" for p in reasons.values())
    assert reasons["zero.mp4"].reason == "zero-byte file"
    assert reasons["truncated.mp4"].reason.startswith("unreadable video")
    assert reasons["text.mp4"].reason.startswith("unreadable video")
    assert reasons["one_frame.mp4"].reason == "1 decodable frame(s), need >= 4 (min_frames)"
    assert reasons["missing.mp4"].reason.startswith("file not found")
    assert "escapes the media root" in reasons["../outside.mp4"].reason


def test_fingerprint_follows_content_not_name(tmp_path):
    a = write_mp4(tmp_path / "a.mp4", 8, seed=1)
    b = tmp_path / "copy.mp4"
    b.write_bytes(a.read_bytes())
    c = write_mp4(tmp_path / "c.mp4", 8, seed=2)
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)
