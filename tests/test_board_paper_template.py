"""A council's own Word file as the board paper's template, configured in digest.yaml."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest
from docx.shared import Pt

from notifications.digest_render import digest_docx
from tests.digest_samples import digest
from workflows.digest.config import DigestConfigError, load_digest_config


def _council_template(path: Path) -> None:
    doc = docx.Document()
    doc.styles["Normal"].font.name = "Georgia"
    doc.styles["Normal"].font.size = Pt(11)
    doc.sections[0].header.paragraphs[0].text = "Plymouth City Council - OFFICIAL"
    doc.sections[0].footer.paragraphs[0].text = "Democratic Support, Ballard House"
    doc.add_paragraph("Replace this text with the report")
    doc.save(str(path))


def test_it_writes_the_paper_into_the_councils_template(tmp_path: Path) -> None:
    _council_template(tmp_path / "council.docx")
    (tmp_path / "digest.yaml").write_text(
        "groups: [SIB]\nboard_paper:\n  template: council.docx\n  title: Progress report\n"
    )
    config = load_digest_config(tmp_path / "digest.yaml")
    assert config.board_paper.template == str((tmp_path / "council.docx").resolve())
    paper = docx.Document(
        io.BytesIO(
            digest_docx(
                digest(),
                config.board_paper,
                template=Path(config.board_paper.template).read_bytes(),
            )
        )
    )
    for section in paper.sections:
        assert section.header.paragraphs[0].text == "Plymouth City Council - OFFICIAL"
        assert section.footer.paragraphs[0].text == "Democratic Support, Ballard House"
    assert paper.styles["Normal"].font.name == "Georgia"
    text = [p.text for p in paper.paragraphs]
    assert "Replace this text with the report" not in text
    assert "Progress report" in text and "4. Exceptions needing a decision" in text


def test_it_says_when_the_template_is_not_there(tmp_path: Path) -> None:
    (tmp_path / "digest.yaml").write_text("groups: [SIB]\nboard_paper:\n  template: ours.docx\n")
    with pytest.raises(DigestConfigError) as caught:
        load_digest_config(tmp_path / "digest.yaml")
    message = str(caught.value)
    assert "board_paper.template" in message and "'ours.docx': there is no such file" in message
    assert "relative to digest.yaml" in message
    (tmp_path / "digest.yaml").write_text("groups: [SIB]\nboard_paper:\n  template: ours.pdf\n")
    with pytest.raises(DigestConfigError, match=r"is not a Word file; expected .* a \.docx"):
        load_digest_config(tmp_path / "digest.yaml")
