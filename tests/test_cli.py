"""The command line, end to end, through click's runner (the same entry point as the installed script)."""

import socket

import orjson
from click.testing import CliRunner

from paperboy.cli import main


def run(home, *args, input=None):
    return CliRunner().invoke(main, ["--home", str(home), *args], input=input, catch_exceptions=False)


def test_ingest_stats_show_and_reingest(tmp_path, datasets):
    seed = str(datasets / "seed-papers" / "papers.jsonl")
    first = run(tmp_path, "ingest", seed)
    assert first.exit_code == 0, first.output
    assert "added 230, updated 0, unchanged 0, rejected 0" in first.output
    again = run(tmp_path, "ingest", "--json", seed)
    assert orjson.loads(again.stdout) == {"added": 0, "updated": 0, "unchanged": 230, "rejected": 0}
    stats = orjson.loads(run(tmp_path, "stats", "--json").stdout)
    assert stats["papers"] == 230 and stats["rejects"] == 0
    ident = "fast-online-node-labeling-for-very-large-graphs-2c3c62d9"
    shown = orjson.loads(run(tmp_path, "show", "--json", ident).stdout)
    assert shown["title"] == "Fast Online Node Labeling for Very Large Graphs"


def test_rejects_are_listed_and_exit_zero(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a", "title": "Fine"}\n{"id": "b", "title": \n')
    result = run(tmp_path, "ingest", str(src))
    assert result.exit_code == 0
    assert "rejected 1" in result.output and "line 2" in result.output
    listed = orjson.loads(run(tmp_path, "rejects", "--json").stdout)
    assert listed[0]["location"] == "line 2" and listed[0]["raw"].startswith('{"id": "b"')


def test_strict_makes_a_reject_fatal(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a", "title": "Fine"}\n{"id": "b"}\n')
    result = run(tmp_path, "ingest", "--strict", str(src))
    assert result.exit_code != 0 and "line 2" in result.output


def test_unusable_input_fails_clearly(tmp_path):
    missing = run(tmp_path, "ingest", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code != 0 and "no such file" in missing.output
    weird = tmp_path / "weird.bin"
    weird.write_bytes(b"\x00\x01binary")
    unknown = run(tmp_path, "ingest", str(weird))
    assert unknown.exit_code != 0 and "format" in unknown.output
    assert run(tmp_path, "show", "0704.9999").exit_code != 0


def test_stdin_and_glob(tmp_path):
    for i in range(3):
        (tmp_path / f"part{i}.jsonl").write_text(f'{{"id": "g{i}", "title": "Globbed {i}"}}\n')
    assert "added 3" in run(tmp_path, "ingest", str(tmp_path / "part*.jsonl")).output
    piped = run(tmp_path, "ingest", "-", input='{"id": "s1", "title": "From stdin"}\n')
    assert "added 1" in piped.output


def test_demo_on_a_taken_port_says_which_flag_changes_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path, "demo", "--port", str(port), "--no-embed")
    assert result.exit_code != 0
    assert f"port {port} on 127.0.0.1 is not available" in result.output and "--port" in result.output
    assert "open http" not in result.output
    assert not (tmp_path / "paperboy.db").exists()  # checked before the slow set-up


def test_index_shows_progress_lines_when_not_a_terminal(tmp_path, datasets):
    assert run(tmp_path, "ingest", str(datasets / "seed-papers" / "papers.jsonl")).exit_code == 0
    result = run(tmp_path, "index", "--no-embed")
    assert result.exit_code == 0
    assert "lexical: 0 of 230 papers" in result.stderr and "lexical: 230 papers in" in result.stderr
    assert "lexical: 230 papers indexed" in result.stdout
