import os

import pytest
from conftest import write_mp4

from viss_r1.video.probe import cpu_workers, fingerprint, probe_media


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


@pytest.fixture
def eight_cpus(monkeypatch):
    """This process may run on 8 CPUs (its affinity mask), whatever the machine has."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


@pytest.mark.parametrize("files, workers", [
    ({}, 8),                                                            # no cgroup limit: the affinity mask
    ({"cpu.max": "max 100000\n"}, 8),                                   # cgroup v2, unlimited
    ({"cpu.max": "300000 100000\n"}, 3),                                # cgroup v2, 3 CPUs of quota
    ({"cpu.max": "150000 100000\n"}, 1),                                # 1.5 CPUs: rounded down
    ({"cpu.max": "50000 100000\n"}, 1),                                 # half a CPU: still one worker
    ({"cpu.max": "2000000 100000\n"}, 8),                               # quota above the mask: the mask
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2),   # cgroup v1
    ({"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, 8),  # v1, unlimited
])
def test_workers_follow_the_affinity_mask_and_the_cgroup_quota(tmp_path, eight_cpus, files, workers):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu_workers(0, cgroup_root=tmp_path) == workers
    assert cpu_workers(5, cgroup_root=tmp_path) == 5  # an explicit count is taken as given


def test_a_narrow_affinity_mask_wins_over_a_larger_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 3}, raising=False)
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    assert cpu_workers(0, cgroup_root=tmp_path) == 2
