"""The results tables in the docs are made from the raw per-seed scores committed beside them
(docs/make_tables.py): remaking them changes nothing, and the one spread convention (mean and
range over n seeds) is computed as stated."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_tables", ROOT / "docs" / "make_tables.py")
make_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_tables)


def test_every_declared_table_matches_its_csv(capsys):
    assert make_tables.main(["--check"]) == 0, capsys.readouterr().out


def test_a_table_is_the_mean_and_range_of_each_label_over_its_seeds(tmp_path, monkeypatch):
    (tmp_path / "runs.csv").write_text("recipe,seed,modes,share\nstable,0,8,0.3\n"
                                       "stable,1,7,0.25\nstable,2,6,0.2\noriginal,0,2,0.9\n")
    monkeypatch.setattr(make_tables, "DOCS", tmp_path)
    text = "intro\n<!-- table: runs.csv | .1f .2f -->\n| stale |\n| --- |\nafter"
    assert make_tables.remake(text).split("\n") == [
        "intro", "<!-- table: runs.csv | .1f .2f -->",
        "| recipe | n | modes | share |", "| --- | --- | --- | --- |",
        "| stable | 3 | 7.0 (6.0-8.0) | 0.25 (0.20-0.30) |",
        "| original | 1 | 2.0 | 0.90 |", "after"]
    with pytest.raises(ValueError, match="2 score columns but 1 formats"):
        make_tables.remake("<!-- table: runs.csv | .1f -->")
