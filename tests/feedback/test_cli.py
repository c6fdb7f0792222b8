from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medgemma_ui.__main__ import main
from medgemma_ui.feedback import FeedbackStore
from tests.feedback.exports import records_from_export
from tests.feedback.factory import make_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "feedback.sqlite3"
    with FeedbackStore(path) as store:
        for i in range(4):
            store.save(make_record(i, i))
    return path


def test_export_csv_to_file_via_python_dash_m(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "ratings.csv"
    env = {**os.environ, "MEDGEMMA_FEEDBACK_DB": str(db)}
    command = ["feedback", "export", "--format", "csv", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "medgemma_ui", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"Exported 4 ratings to {out}" in result.stderr
    with out.open(encoding="utf-8", newline="") as f:
        back = records_from_export("csv", f)
    assert sorted(r.id for r in back) == sorted(make_record(i, i).id for i in range(4))
    assert not out.with_name("ratings.csv.partial").exists()


def test_export_jsonl_to_stdout_with_session_filter(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["feedback", "export", "--format", "jsonl", "--db", str(db)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4 and all("image_jpeg" not in r for r in rows)
    assert (
        main(["feedback", "export", "--format", "jsonl", "--db", str(db), "--session", "session 1"])
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["session_label"] for r in rows] == ["session 1"]


def test_stats_prints_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", "stats", "--db", str(db)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 4
    assert stats["by_overall"] == {"agree": 1, "partly_agree": 1, "disagree": 1, "unrated": 1}


def test_missing_database_is_a_clear_error_not_a_new_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.sqlite3"
    assert main(["feedback", "export", "--db", str(missing)]) == 2
    assert "No feedback database at" in capsys.readouterr().err
    assert not missing.exists()
    with pytest.raises(SystemExit):
        main(["feedback", "export", "--format", "xlsx", "--db", str(missing)])


def test_export_and_stats_read_postgresql_by_url(
    postgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import stat

    url = postgres.new_url()
    with FeedbackStore(url) as store:
        for i in range(3):
            store.save(make_record(i, i))
    out = tmp_path / "pg.jsonl"
    assert main(["feedback", "export", "--format", "jsonl", "--db", url, "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 3
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert main(["feedback", "stats", "--db", url]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 3
