"""Outputs to an fsspec URL: what counts as remote, and folders and files moved into place whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from kam_helpers.batch.publish import Target, is_remote, local_path
from kam_helpers.core.errors import KamError


@pytest.mark.parametrize(
    ("out", "remote"),
    [("reports/2026Q3", False), ("/srv/reports", False), ("file:///srv/reports", False),
     ("s3://bucket/reports/2026Q3", True), ("local:///srv/reports", True), (None, False)],
)  # fmt: skip
def test_paths_and_file_urls_are_written_directly_other_urls_through_fsspec(out: str | None, remote: bool) -> None:
    assert is_remote(out) is remote


def test_a_file_url_is_its_local_path() -> None:
    assert local_path("file:///srv/reports/2026Q3") == Path("/srv/reports/2026Q3")
    assert local_path("reports/2026Q3") == Path("reports/2026Q3")


def test_a_pack_replaces_the_previous_one_whole_and_leaves_nothing_under_work(tmp_path: Path) -> None:
    target = Target(f"local://{tmp_path}/out/2026Q3")
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, files in ((old, ["qbr.html", "qbr.pdf"]), (new, ["qbr.html"])):
        folder.mkdir()
        for name in files:
            (folder / name).write_text(f"{folder.name} {name}")
    target.put_folder(old, "ACC-001")
    target.put_folder(new, "ACC-001")
    pack = tmp_path / "out" / "2026Q3" / "ACC-001"
    assert sorted(p.name for p in pack.iterdir()) == ["qbr.html"]  # nothing of the previous pack mixed in
    assert (pack / "qbr.html").read_text() == "new qbr.html"
    (tmp_path / "manifest.json").write_text("{}")
    target.put_file(tmp_path / "manifest.json", "manifest.json")
    assert target.read_text("manifest.json") == "{}" and target.read_text("missing.json") is None
    target.remove_work()
    assert sorted(p.name for p in (tmp_path / "out" / "2026Q3").iterdir()) == ["ACC-001", "manifest.json"]


@pytest.mark.parametrize("name", ["../x", "ACC-001/../../x", "/etc/passwd", "a\\..\\x", "", "."])
def test_a_name_that_could_leave_the_output_folder_is_refused(tmp_path: Path, name: str) -> None:
    target = Target(f"local://{tmp_path}/out/2026Q3")
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(KamError, match="not a name inside the output folder"):
        target.put_file(tmp_path / "manifest.json", name)
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()
