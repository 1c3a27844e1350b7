from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deploy.conftest import listing
from vhostguard.deploy import (
    SlotError, backup_name, content_hash, convert, inspect, links_through_live, prepare_idle, slot_dir, switch,
)
from vhostguard.deploy import slots as slots_module
from datetime import UTC


def _candidate(live: Path, tmp_path: Path, marker: str) -> Path:
    candidate = tmp_path / f"candidate-{marker}"
    slots_module.copy_tree(str(live), str(candidate))
    (candidate / "sites-available" / "shop.conf").write_text(f"# {marker}\n")
    return candidate


def test_inspect_plain_directory(live_dir: Path) -> None:
    layout = inspect(str(live_dir))
    assert layout.kind == "plain" and layout.live_slot is None


def test_inspect_refuses_a_foreign_symlink(tmp_path: Path, live_dir: Path) -> None:
    link = tmp_path / "elsewhere"
    os.symlink(live_dir, link)
    with pytest.raises(SlotError, match=r"not to elsewhere\.blue"):
        inspect(str(link))


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_convert_keeps_the_tree_whole(live_dir: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool) -> None:
    if not exchange:
        monkeypatch.setattr(slots_module, "_can_exchange", lambda live: False)
    elif not slots_module._can_exchange(str(live_dir)):
        pytest.skip("RENAME_EXCHANGE unsupported on this filesystem")
    before = listing(live_dir)
    original_hash = content_hash(str(live_dir))
    steps = convert(str(live_dir))
    assert all(step.done for step in steps)
    layout = inspect(str(live_dir))
    assert (layout.kind, layout.live_slot, layout.idle_exists) == ("slots", "blue", False)
    assert os.readlink(live_dir) == "apache2.blue"  # relative: the pair can move together
    blue = Path(slot_dir(str(live_dir), "blue"))
    # Symlinks stay symlinks and still resolve inside the new slot.
    assert os.readlink(blue / "sites-enabled" / "shop.conf") == "../sites-available/shop.conf"
    assert os.path.realpath(blue / "sites-enabled" / "shop.conf") == str(blue / "sites-available" / "shop.conf")
    assert (live_dir / "sites-enabled" / "shop.conf").read_text().startswith("<VirtualHost")
    # Modes and mtimes kept, in the slot and in the backup (the untouched original directory).
    assert listing(blue) == before
    backups = [p for p in live_dir.parent.iterdir() if p.name.startswith("apache2.backup-")]
    assert len(backups) == 1 and listing(backups[0]) == before
    assert content_hash(str(live_dir)) == original_hash
    assert sorted(p.name for p in live_dir.parent.iterdir()) == sorted(["apache2", "apache2.blue", backups[0].name])


def test_convert_twice_is_refused(live_dir: Path) -> None:
    convert(str(live_dir))
    with pytest.raises(SlotError, match="already a slot symlink"):
        convert(str(live_dir))


def test_switch_and_switch_back(live_dir: Path, tmp_path: Path) -> None:
    convert(str(live_dir))
    candidate = _candidate(live_dir, tmp_path, "green")
    prepare_idle(str(live_dir), str(candidate))
    assert inspect(str(live_dir)).live_slot == "blue"  # preparing never touches the live slot
    assert (live_dir / "sites-enabled" / "shop.conf").read_text().startswith("<VirtualHost")
    steps = switch(str(live_dir), "green")
    assert [s.name for s in steps] == ["switch-link", "switch-replace"]
    assert inspect(str(live_dir)).live_slot == "green"
    assert (live_dir / "sites-enabled" / "shop.conf").read_text() == "# green\n"
    assert content_hash(str(live_dir)) == content_hash(str(candidate))
    switch(str(live_dir), "blue")
    layout = inspect(str(live_dir))
    assert (layout.live_slot, layout.idle_slot, layout.idle_exists) == ("blue", "green", True)
    assert (live_dir / "sites-enabled" / "shop.conf").read_text().startswith("<VirtualHost")
    assert not any(p.name.endswith((".vhostguard-link", ".partial", ".old")) for p in live_dir.parent.iterdir())


def test_prepare_replaces_the_previous_idle_tree(live_dir: Path, tmp_path: Path) -> None:
    convert(str(live_dir))
    prepare_idle(str(live_dir), str(_candidate(live_dir, tmp_path, "one")))
    switch(str(live_dir), "green")
    steps = prepare_idle(str(live_dir), str(_candidate(live_dir, tmp_path, "two")))
    assert [s.name for s in steps] == ["prepare-copy", "prepare-set-aside", "prepare-place", "prepare-discard"]
    assert Path(slot_dir(str(live_dir), "blue"), "sites-available", "shop.conf").read_text() == "# two\n"
    assert (live_dir / "sites-available" / "shop.conf").read_text() == "# one\n"


def test_prepare_and_switch_need_a_converted_layout(live_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SlotError, match="convert it to slots first"):
        prepare_idle(str(live_dir), str(_candidate(live_dir, tmp_path, "x")))
    with pytest.raises(SlotError, match="convert it to slots first"):
        switch(str(live_dir), "green")


def test_switch_to_a_missing_slot_is_refused(live_dir: Path) -> None:
    convert(str(live_dir))
    with pytest.raises(SlotError, match="prepare it before switching"):
        switch(str(live_dir), "green")


def test_dry_run_changes_nothing(live_dir: Path, tmp_path: Path) -> None:
    candidate = _candidate(live_dir, tmp_path, "dry")
    root = live_dir.parent
    before = listing(root)
    planned = convert(str(live_dir), dry_run=True)
    assert planned and not any(step.done for step in planned)
    assert [s.name for s in planned][:2] == ["convert-copy", "convert-place"]
    assert listing(root) == before
    convert(str(live_dir))
    before = listing(root)
    planned = prepare_idle(str(live_dir), str(candidate), dry_run=True)
    planned += switch(str(live_dir), "blue", dry_run=True)
    assert [s.name for s in planned] == ["prepare-copy", "prepare-place", "switch-link", "switch-replace"]
    assert listing(root) == before


def test_backup_name_is_timestamped(live_dir: Path) -> None:
    from datetime import datetime
    moment = datetime(2026, 12, 4, 4, 0, 0, tzinfo=UTC)
    assert backup_name(str(live_dir), moment) == f"{live_dir}.backup-20261204T040000Z"


def test_content_hash_sees_modes_and_link_targets(live_dir: Path) -> None:
    first = content_hash(str(live_dir))
    (live_dir / "secret.key").chmod(0o644)
    second = content_hash(str(live_dir))
    os.unlink(live_dir / "sites-enabled" / "shop.conf")
    os.symlink("../sites-available/000-default.conf", live_dir / "sites-enabled" / "shop.conf")
    assert len({first, second, content_hash(str(live_dir))}) == 3


def test_absolute_links_into_the_live_path_are_named(live_dir: Path, tmp_path: Path) -> None:
    convert(str(live_dir))
    candidate = _candidate(live_dir, tmp_path, "abs")
    absolute = candidate / "sites-enabled" / "absolute.conf"
    os.symlink(live_dir / "sites-available" / "shop.conf", absolute)
    os.symlink("/etc/ssl/certs", candidate / "certs")  # outside the config directory: fine in any slot
    assert links_through_live(str(candidate), str(live_dir)) == [str(absolute)]
    prepare_idle(str(live_dir), str(candidate))
    # Why it matters: in the idle slot the link shows the live slot's file, not the candidate's.
    idle_link = Path(slot_dir(str(live_dir), "green"), "sites-enabled", "absolute.conf")
    assert idle_link.read_text().startswith("<VirtualHost")
    assert (Path(slot_dir(str(live_dir), "green")) / "sites-available" / "shop.conf").read_text() == "# abs\n"
