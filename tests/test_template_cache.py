"""Templates compiled once per process (notifications/template_cache.py): a new environment
reuses what an earlier one compiled, but never code compiled from other settings or from a
template since edited."""

from __future__ import annotations

from pathlib import Path

from notifications.render import load_templates


def test_it_compiles_an_edited_template_afresh(tmp_path: Path) -> None:
    probe = tmp_path / "probe.txt"
    probe.write_text("first {{ word }}", encoding="utf-8")
    assert load_templates(tmp_path).text.get_template("probe.txt").render(word="a") == "first a"
    probe.write_text("second {{ word }}", encoding="utf-8")
    assert load_templates(tmp_path).text.get_template("probe.txt").render(word="b") == "second b"


def test_it_never_gives_an_escaping_environment_code_compiled_without_escaping(
    tmp_path: Path,
) -> None:
    (tmp_path / "probe.txt").write_text("{{ word }}", encoding="utf-8")
    first = load_templates(tmp_path)
    assert first.text.get_template("probe.txt").render(word="<b>") == "<b>"
    assert first.html.get_template("probe.txt").render(word="<b>") == "&lt;b&gt;"
    again = load_templates(tmp_path)  # both now come from the shared cache
    assert again.html.get_template("probe.txt").render(word="<b>") == "&lt;b&gt;"
    assert again.text.get_template("probe.txt").render(word="<b>") == "<b>"


def test_it_reuses_what_an_earlier_environment_compiled(tmp_path: Path) -> None:
    (tmp_path / "probe.txt").write_text("{{ word }}", encoding="utf-8")
    load_templates(tmp_path).text.get_template("probe.txt")
    cache = load_templates(tmp_path).text.bytecode_cache
    assert cache is not None
    bucket = cache.get_bucket(
        load_templates(tmp_path).text, "probe.txt", str(tmp_path / "probe.txt"), "{{ word }}"
    )
    assert bucket.code is not None  # found compiled: no second compile
