"""The metrics' two homes: memory (one process) and files shared by the processes of one
`serve --processes` run; the setting that names the files' directory."""

from pathlib import Path

import pytest

from creditline.config import load_settings
from creditline.metrics import Metrics


def test_the_shared_directory_is_prometheus_clients_own_variable(tmp_path: Path) -> None:
    assert load_settings({}).metrics_directory is None
    named = load_settings({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert named.metrics_directory == tmp_path


def test_files_are_refused_when_prometheus_client_counts_in_memory(tmp_path: Path) -> None:
    # This process imported prometheus_client without PROMETHEUS_MULTIPROC_DIR: its counts
    # live in memory and a scrape of the directory would silently leave them out.
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(tmp_path)
