"""The one sync path (ingest -> index -> notify): checkpoints by time, resume, the sync lock, Ctrl-C."""

from __future__ import annotations

import fcntl
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

import paperboy.index as index_module
from paperboy import pipeline
from paperboy.cli import main
from paperboy.config import Settings, load_settings
from paperboy.index import Indexes
from paperboy.index.embed import Embedder, available
from paperboy.ingest import open_sources
from paperboy.store import open_store

needs_model = pytest.mark.skipif(not available(), reason="embedding model not installed")


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One built model for this module, under pytest's temporary folder."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def embedder(model_cache: Path) -> Embedder:
    return Embedder.load(model_cache, "int8", threads=2)


def make_home(tmp_path: Path, model_cache: Path) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(model_cache, target_is_directory=True)
    return load_settings(home)


def ingest_seed(settings: Settings, datasets: Path, index: pipeline.IndexScope = "none") -> pipeline.PipelineReport:
    store = open_store(settings.database_url)
    try:
        records = open_sources([str(datasets / "seed-papers" / "papers.jsonl")], fmt="jsonl", settings=settings,
                               store=store)
        return pipeline.run(settings, store, records, index=index)
    finally:
        store.close()


class FailOnCall:
    """The real embedder, with a failure injected at the ``fail_at``-th call (a crash in the middle of a build)."""

    def __init__(self, embedder: Embedder, fail_at: int) -> None:
        self.embedder, self.fail_at, self.calls = embedder, fail_at, 0
        self.model_id, self.dim = embedder.model_id, embedder.dim

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("injected crash")
        return self.embedder.embed(texts, max_tokens=64)  # short: the test is about checkpoints, not quality


@needs_model
def test_time_checkpoints_survive_a_crash_and_a_rerun_resumes(tmp_path, datasets, model_cache, embedder,
                                                              monkeypatch):
    settings = make_home(tmp_path, model_cache)
    settings.index_checkpoint_s = 0.0  # checkpoint after every embedder call (far fewer papers than SAVE_EVERY)
    monkeypatch.setattr(index_module, "EMBED_BATCH", 50)  # 230 papers: one store batch, five embedder calls
    ingest_seed(settings, datasets)
    store = open_store(settings.database_url)
    crashing = FailOnCall(embedder, fail_at=3)
    indexes = Indexes(settings)
    with pytest.raises(RuntimeError, match="injected crash"):
        indexes.sync(store, embed_fn=crashing)
    indexes.close()

    reopened = Indexes(settings)  # what a new process finds on disk: the two checkpointed embedder calls
    assert len(reopened.vectors()) == 100
    again = pipeline.update_indexes(reopened, store, embed_fn=FailOnCall(embedder, fail_at=0))
    assert again.embedded == 130 and again.skipped_unchanged == 0  # resumed after the checkpoint
    assert len(reopened.vectors()) == store.count() == 230
    reopened.close()
    store.close()


def test_notify_runs_after_indexing_and_the_sync_lock_is_honoured(tmp_path, datasets):
    settings = load_settings(tmp_path / "home")
    seen: list[pipeline.PipelineReport] = []
    store = open_store(settings.database_url)
    records = open_sources([str(datasets / "seed-papers" / "papers.jsonl")], fmt="jsonl", settings=settings,
                               store=store)
    report = pipeline.run(settings, store, records, index="lexical", notify=[seen.append])
    assert seen == [report] and report.ingest.added == 230 and report.index.lexical == 230

    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"id": "lock-1", "title": "Zymurgy of quokkas under lock"}\n')
    with open(settings.index_dir / ".sync.lock", "a+b") as held:  # another process is syncing this home
        fcntl.flock(held, fcntl.LOCK_EX)
        ingested = CliRunner().invoke(main, ["--home", str(settings.home), "ingest", str(extra)])
        assert ingested.exit_code == 0 and "added 1" in ingested.output
        assert "busy" in ingested.stderr
        searched = CliRunner().invoke(main, ["--home", str(settings.home), "search", "--mode", "lexical", "quokkas"])
        assert "another process is updating the indexes" in searched.stderr  # did not write past the lock
        indexed = CliRunner().invoke(main, ["--home", str(settings.home), "index", "--no-embed"])
        assert indexed.exit_code != 0 and "another process is updating the indexes" in indexed.output
    searched = CliRunner().invoke(main, ["--home", str(settings.home), "search", "--mode", "lexical", "--json",
                                         "quokkas"])
    assert [h["paper"]["id"] for h in orjson.loads(searched.stdout)["hits"]] == ["lock-1"]  # caught up once free
    store.close()


def _read_until(proc: subprocess.Popen, needle: str, timeout: float) -> str:
    """stderr of ``proc`` until a line contains ``needle`` (fails after ``timeout`` seconds)."""
    seen, sel, deadline = "", selectors.DefaultSelector(), time.monotonic() + timeout
    sel.register(proc.stderr, selectors.EVENT_READ)
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0 and proc.poll() is None, f"no {needle!r} in time; stderr so far:\n{seen}"
        if sel.select(left):
            seen += proc.stderr.readline()
    return seen


@needs_model
def test_ctrl_c_says_what_was_kept_and_exits_130(tmp_path, datasets, model_cache, embedder):
    settings = make_home(tmp_path, model_cache)
    ingest_seed(settings, datasets)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PAPERBOY_HOME": str(settings.home)}
    proc = subprocess.Popen([sys.executable, "-c", "from paperboy.cli import main; main()", "index"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        before = _read_until(proc, "embed: 0 of 230 papers", timeout=120)  # plain progress lines: not a terminal
        assert "lexical: 230 papers in" in before
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted during index: kept 230 papers indexed lexically" in err
    assert "Run the same command again to resume." in err and "Aborted!" not in err
    resumed = CliRunner().invoke(main, ["--home", str(settings.home), "index", "--no-embed", "--json"])
    assert orjson.loads(resumed.stdout)["lexical"] == 0  # the lexical pass was kept


def test_interrupt_message_names_what_was_kept():
    from paperboy.index import SyncReport
    from paperboy.ingest import IngestSummary

    committed = IngestSummary(added=4000, batches=2)
    during_ingest = pipeline.PipelineInterrupted(pipeline.PipelineReport(ingest=committed), "ingest")
    assert during_ingest.kept() == (f"interrupted during ingest: kept 2 committed batches ({committed.line()}; "
                                    "re-ingesting skips them quickly). Run the same command again to resume.")
    nothing = pipeline.PipelineInterrupted(pipeline.PipelineReport(ingest=IngestSummary()), "ingest")
    assert "no ingest batch" in nothing.kept()
    lexical = pipeline.PipelineReport(index=SyncReport(interrupted_in="lexical"))
    assert "the lexical index as it was" in pipeline.PipelineInterrupted(lexical, "index").kept()
    embed = pipeline.PipelineReport(ingest=IngestSummary(added=5, batches=1),
                                    index=SyncReport(lexical=5, embedded=3, interrupted_in="embed"), vectors=3)
    assert pipeline.PipelineInterrupted(embed, "index").kept() == (
        "interrupted during index: kept 1 committed batch (" + IngestSummary(added=5, batches=1).line()
        + "; re-ingesting skips them quickly); 5 papers indexed "
        "lexically; 3 vectors, saved at the last checkpoint. Run the same command again to resume.")
