"""The download decision (overwrite / changed_only over a remote listing): one pure function."""

from __future__ import annotations

from batchdeck.backends.schedulers.transfer_plan import FileFacts, expand_folders, plan_download

REMOTE = {
    "new.txt": FileFacts(10, 200.0),
    "same.txt": FileFacts(5, 100.0),
    "resized.txt": FileFacts(7, 100.0),
    "newer.txt": FileFacts(5, 300.0),
}
LOCAL = {
    "same.txt": FileFacts(5, 100.0),
    "resized.txt": FileFacts(6, 150.0),
    "newer.txt": FileFacts(5, 250.0),
}


def test_existing_files_are_kept_without_overwrite() -> None:
    plan = plan_download(None, REMOTE, LOCAL, overwrite=False, changed_only=True)
    assert plan.copy == ["new.txt"]
    assert plan.skip == ["newer.txt", "resized.txt", "same.txt"]
    assert plan.missing == []


def test_overwrite_changed_only_replaces_resized_and_newer() -> None:
    plan = plan_download(None, REMOTE, LOCAL, overwrite=True, changed_only=True)
    assert plan.copy == ["new.txt", "newer.txt", "resized.txt"]
    assert plan.skip == ["same.txt"]


def test_overwrite_everything() -> None:
    plan = plan_download(None, REMOTE, LOCAL, overwrite=True, changed_only=False)
    assert plan.copy == ["new.txt", "newer.txt", "resized.txt", "same.txt"] and plan.skip == []


def test_declared_names_keep_their_order_and_missing_ones_are_reported() -> None:
    plan = plan_download(["same.txt", "absent.txt", "new.txt"], REMOTE, LOCAL, overwrite=False, changed_only=True)
    assert plan.copy == ["new.txt"]
    assert plan.skip == ["same.txt"]
    assert plan.missing == ["absent.txt"]


def test_a_local_copy_newer_than_the_remote_with_the_same_size_is_kept() -> None:
    plan = plan_download(None, {"a": FileFacts(1, 10.0)}, {"a": FileFacts(1, 20.0)}, overwrite=True, changed_only=True)
    assert plan.skip == ["a"] and plan.copy == []


def test_a_declared_folder_stands_for_the_files_under_it() -> None:
    remote = {"out/a.txt": FileFacts(1, 1.0), "out/deep/b.txt": FileFacts(1, 1.0), "outer.txt": FileFacts(1, 1.0)}
    assert expand_folders(["out/", "outer.txt", "gone", "out/a.txt"], remote) == [
        "out/a.txt",
        "out/deep/b.txt",
        "outer.txt",
        "gone",
    ]
    assert expand_folders(None, remote) is None
