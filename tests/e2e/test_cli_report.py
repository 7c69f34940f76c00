"""`creditline report portfolio` writes an HTML file and a PDF that renders: it has pages and
its text holds the headline figures, in Chinese too; bad input is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

from conftest import Run
from pypdf import PdfReader

from creditline.bootstrap import Container
from creditline.kernel.actors import Actor, Role
from creditline.kernel.ids import new_id

AGENT = Actor("agent-1", Role.AGENT)


def pdf_text(path: Path) -> tuple[int, str]:
    reader = PdfReader(path)
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_the_report_renders_its_headline_figures(
    container: Container, database_url: str, creditline: Run, tmp_path: Path
) -> None:
    for limit in ("5000.00", "7000.00"):
        container.ledger.open_line(AGENT, new_id(), f"b-{limit}", "CNY", limit)
    today = container.clock.now().date().isoformat()
    for lang, limit_words in (("en", "Limits"), ("zh-CN", "授信额度")):
        out = tmp_path / lang
        done = creditline(
            "report",
            "portfolio",
            "--date",
            today,
            "--out",
            str(out),
            "--lang",
            lang,
            database_url=database_url,
        )
        assert done.returncode == 0, done.stderr
        pages, text = pdf_text(out / f"portfolio-{today}-CNY.pdf")
        assert pages >= 2
        assert limit_words in text and "12,000.00" in text  # the limits, summed
        assert (out / f"portfolio-{today}-CNY.html").read_text().count("<svg") == 6
    assert "资产组合报告" in text


def test_the_report_from_a_duckdb_copy_says_so(
    container: Container, database_url: str, creditline: Run, tmp_path: Path
) -> None:
    container.ledger.open_line(AGENT, new_id(), "b-1", "CNY", "3000.00")
    today = container.clock.now().date().isoformat()
    done = creditline(
        "report",
        "portfolio",
        "--date",
        today,
        "--out",
        str(tmp_path),
        "--engine",
        "duckdb",
        database_url=database_url,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "book.duckdb").exists()
    _, text = pdf_text(tmp_path / f"portfolio-{today}-CNY.pdf")
    assert "duckdb" in text and "3,000.00" in text


def test_bad_report_input_is_one_line_and_exit_2(database_url: str, creditline: Run) -> None:
    for args, words in (
        (("--date", "12/06/2026"), "--date must be YYYY-MM-DD"),
        (("--date", "2999-01-01"), "report_date_in_future"),
        (("--currency", "XYZ"), "unknown_currency"),
        (("--lang", "fr"), "--lang must be zh-CN or en"),
    ):
        done = creditline("report", "portfolio", *args, database_url=database_url)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
