import json

from conftest import record

from viss_r1.data.records import load_annotation_file, normalize_path, validate_records


def test_valid_records_keep_schema_fields_and_extras():
    raw = [record(1, "./videos/a.mp4", question_type="object_counting")]
    valid, quarantine = validate_records(raw, "train")
    assert quarantine == []
    (row,) = valid
    assert row["path"] == "videos/a.mp4"
    assert row["problem_id"] == "1"
    assert row["options"] == ["A. left", "B. right"]
    assert json.loads(row["extra"]) == {"question_type": "object_counting"}


def test_each_bad_record_is_quarantined_with_its_reason():
    raw = [
        {k: v for k, v in record(1, "a.mp4").items() if k != "solution"},
        record(2, "a.mp4", options="A. x"),
        record(3, "a.mp4", problem_type="essay"),
        record(4, "../a.mp4"),
        record(5, "/abs/a.mp4"),
        record(6, "a.mp4", options=[]),
        record(7, "a.mp4", solution="B"),
        {**record(8, "a.mp4"), "problem_id": 8.5},
        "not an object",
        record(9, "a.mp4"),
    ]
    valid, quarantine = validate_records(raw, "train")
    assert [r["problem_id"] for r in valid] == ["9"]
    reasons = {q["record_index"]: q["reason"] for q in quarantine}
    assert "solution" in reasons[0] and "Field required" in reasons[0]
    assert reasons[1].startswith("options")
    assert "problem_type" in reasons[2]
    assert "escapes the media root" in reasons[3] and "escapes the media root" in reasons[4]
    assert "no options" in reasons[5]
    assert "no <answer> tag" in reasons[6]
    assert "problem_id" in reasons[7]
    assert "not an object" in reasons[8]


def test_an_annotation_file_that_is_not_a_list_or_not_json_is_one_quarantine_row(tmp_path):
    not_list = tmp_path / "a.json"
    not_list.write_text(json.dumps({"problem_id": 1}))
    broken = tmp_path / "b.json"
    broken.write_text("[{")
    assert load_annotation_file(not_list, "s")[1][0]["reason"].startswith("annotation file must hold a JSON list")
    assert "is not JSON" in load_annotation_file(broken, "s")[1][0]["reason"]
    assert "cannot read" in load_annotation_file(tmp_path / "none.json", "s")[1][0]["reason"]


def test_json_lines_files_load(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(record(i, f"v{i}.mp4")) for i in range(3)))
    valid, quarantine = load_annotation_file(path, "eval")
    assert len(valid) == 3 and quarantine == []


def test_normalize_path():
    assert normalize_path("./a/b.mp4") == "a/b.mp4"
    assert normalize_path("a\\b.mp4") == "a/b.mp4"
