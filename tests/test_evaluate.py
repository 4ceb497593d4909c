"""The evaluation harness: metrics against hand-computed values, BEIR parsing, an end-to-end run, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from fixtures.search_home import MODEL_CACHE, embedder_ready
from paperboy.cli import main
from paperboy.evaluate import EvalError, evaluate_beir, load_beir, mrr_at, ndcg_at, recall_at, score_run


def test_ndcg_hand_computed():
    # ranking d1 d2 d3 d4; grades d1=0 d2=2 d3=0 d4=1, and an unretrieved d5=1
    rels = {"d1": 0, "d2": 2, "d4": 1, "d5": 1}
    ranked = ["d1", "d2", "d3", "d4"]
    dcg = 2 / math.log2(3) + 1 / math.log2(5)  # = 1.2619 + 0.4307 = 1.6925
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # = 2 + 0.6309 + 0.5 = 3.1309
    assert ndcg_at(ranked, rels, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at(ranked, rels, 10) == pytest.approx(0.54058, abs=1e-5)
    assert ndcg_at(["d2", "d4", "d5"], rels, 10) == pytest.approx(1.0)
    assert ndcg_at(ranked, rels, 1) == 0.0
    assert ndcg_at(ranked, {"x": 0}, 10) == 0.0


def test_recall_and_mrr_hand_computed():
    rels = {"a": 1, "b": 1, "c": 0, "d": 2}
    ranked = ["c", "x", "b", "y", "d"]
    assert recall_at(ranked, rels, 100) == pytest.approx(2 / 3)
    assert recall_at(ranked, rels, 3) == pytest.approx(1 / 3)
    assert mrr_at(ranked, rels, 10) == pytest.approx(1 / 3)
    assert mrr_at(ranked, rels, 2) == 0.0


def test_score_run_averages_over_judged_queries():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 has no relevant doc: not counted
    run = {"q1": ["a"], "q2": ["x", "b"]}
    got = score_run(run, qrels)
    assert got["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    assert got["recall@100"] == pytest.approx(1.0)
    assert got["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)


def write_beir(root: Path) -> Path:
    """A tiny BEIR folder: six documents, three judged queries (one with a duplicate title pair)."""
    docs = [
        ("d1", "Graph neural networks for molecules", "Message passing networks predict molecular properties."),
        ("d2", "Protein folding with attention", "Transformers predict protein structure from sequence."),
        ("d3", "Bayesian optimisation of hyperparameters", "Gaussian processes guide the search for settings."),
        ("d4", "Graph neural networks for molecules", "A different paper with the same title about chemistry graphs."),
        ("d5", "Federated learning under privacy constraints", "Clients train locally; updates are aggregated."),
        ("d6", "", "An untitled note on reinforcement learning for robots."),
    ]
    root.mkdir(parents=True)
    (root / "corpus.jsonl").write_bytes(b"".join(
        orjson.dumps({"_id": i, "title": t, "text": x}) + b"\n" for i, t, x in docs))
    queries = [("q1", "molecular property prediction with graph networks"), ("q2", "protein structure"),
               ("q3", "robots reinforcement learning"), ("q4", "unjudged query")]
    (root / "queries.jsonl").write_bytes(b"".join(orjson.dumps({"_id": q, "text": t}) + b"\n" for q, t in queries))
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td4\t1\nq2\td2\t1\nq3\td6\t1\nq3\td3\t0\n")
    return root


def test_load_beir_and_errors(tmp_path):
    root = write_beir(tmp_path / "beir")
    b = load_beir(root, "test")
    assert set(b.queries) == {"q1", "q2", "q3"} and b.qrels["q1"] == {"d1": 2.0, "d4": 1.0}
    with pytest.raises(EvalError, match="splits here: test"):
        load_beir(root, "train")
    with pytest.raises(EvalError, match="corpus.jsonl"):
        load_beir(tmp_path, "test")


def test_end_to_end_lexical(tmp_path):
    root = write_beir(tmp_path / "beir")
    res = evaluate_beir(root, "test", ["lexical"], cache_dir=None, progress=lambda _m: None)
    # every judged document is findable: both equal-titled documents survive ingest
    assert res["lexical"]["recall@100"] == pytest.approx(1.0)
    assert res["lexical"]["mrr@10"] == pytest.approx(1.0)
    assert 0.9 < res["lexical"]["ndcg@10"] <= 1.0


@pytest.mark.skipif(not embedder_ready(), reason="embedding model not installed")
def test_end_to_end_hybrid_with_cache(tmp_path, monkeypatch):
    root = write_beir(tmp_path / "beir")
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    monkeypatch.setenv("PAPERBOY_HOME", str(home))
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    out = runner.invoke(main, ["eval", "--beir", str(root), "--split", "test", "--mode", "all", "--json"])
    assert out.exit_code == 0, out.output
    res = orjson.loads(out.stdout)
    assert set(res) == {"lexical", "dense", "hybrid"}
    assert res["hybrid"]["recall@100"] == pytest.approx(1.0)
    assert list((home / "cache").glob("eval-vectors-*.npz"))  # corpus vectors cached for the next run
    again = runner.invoke(main, ["eval", "--beir", str(root), "--mode", "hybrid", "--json"])
    assert orjson.loads(again.stdout)["hybrid"] == pytest.approx(res["hybrid"])


def test_cli_eval_shows_progress(tmp_path):
    root = write_beir(tmp_path / "beir")
    out = CliRunner().invoke(main, ["--home", str(tmp_path / "home"), "eval", "--beir", str(root),
                                    "--mode", "lexical"])
    assert out.exit_code == 0, out.output
    assert "ingest: 6 records in" in out.stderr and "queries lexical: 3 queries in" in out.stderr
    assert "lexical " in out.stdout


def test_cli_eval_reports_bad_folder(tmp_path):
    out = CliRunner().invoke(main, ["eval", "--beir", str(tmp_path), "--json"])
    assert out.exit_code != 0 and "corpus.jsonl" in out.output
