"""OAI-PMH harvester against a real local HTTP server replaying recorded arXiv responses."""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures.oai import RAW_PAGE, TOKEN, final_page, oai_page, real_record  # noqa: E402
from paperboy.papers import Author, Paper, Version  # noqa: E402
from paperboy.sources.base import Checkpoint, Reject, SourceError  # noqa: E402
from paperboy.sources.fetch import UnsafeXML, parse_xml, retry_after_seconds  # noqa: E402
from paperboy.sources.oai import checkpoint_key, harvest, parse_records  # noqa: E402
from replay_server import FakeSleep, ReplayServer, Reply, free_port, recorded, recorded_nock  # noqa: E402

ERRORS = "oai-pmh/arXivOAIHarvester-2015/"


def papers(items):
    return [x for x in items if isinstance(x, Paper)]


def checkpoints(items):
    return [x for x in items if isinstance(x, Checkpoint)]


def script_two_pages(server: ReplayServer) -> None:
    server.script({"resumptionToken": TOKEN}, Reply(200, final_page()))
    server.script({"verb": "ListRecords", "metadataPrefix": "arXivRaw"}, Reply(200, recorded(RAW_PAGE)))


# -- paging, checkpoints, politeness


def test_multi_page_harvest_follows_resumption_token(server):
    script_two_pages(server)
    sleep = FakeSleep()
    items = list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", sleep=sleep))

    ids = [p.id for p in papers(items)]
    assert ids == ["0704.0471", "0704.0716", "0704.0874", "0704.1109", "0704.1114", "0704.1586", "1302.2146"]
    # records of a page come before that page's checkpoint
    kinds = ["P" if isinstance(x, Paper) else "C" for x in items]
    assert kinds == ["P"] * 6 + ["C"] + ["P", "C"]
    key = checkpoint_key(server.url("/oai2"), "arXivRaw", None, None, None)
    assert checkpoints(items) == [
        Checkpoint(key, {"token": TOKEN, "cursor": 6, "complete_list_size": 58011, "done": False}),
        Checkpoint(key, {"token": None, "cursor": 1001, "complete_list_size": 1001, "done": True}),
    ]
    assert [r.query for r in server.requests] == [
        {"verb": "ListRecords", "metadataPrefix": "arXivRaw"},
        {"verb": "ListRecords", "resumptionToken": TOKEN},  # exclusive argument, per OAI-PMH
    ]
    assert server.requests[0].path == "/oai2"
    assert sleep.calls == [3.0]  # polite delay between the two pages, none before the first


def test_polite_delay_is_configurable_and_used_between_every_page(server):
    script_two_pages(server)
    sleep = FakeSleep()
    list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", delay=7.5, sleep=sleep))
    assert sleep.calls == [7.5]


def test_checkpoint_key_format():
    assert checkpoint_key("https://oaipmh.arxiv.org/oai", "arXiv", "cs", "2024-01-01", None) == (
        "oai:https://oaipmh.arxiv.org/oai|arXiv|cs|2024-01-01|"
    )
    assert checkpoint_key("u", "arXivRaw", None, None, "2024-02-01") == "oai:u|arXivRaw|||2024-02-01"


def test_resume_from_saved_token_sends_only_the_resumption_request(server):
    script_two_pages(server)
    resume = {"token": TOKEN, "cursor": 6, "complete_list_size": 58011, "done": False}
    items = list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", resume=resume, sleep=FakeSleep()))
    assert [p.id for p in papers(items)] == ["1302.2146"]
    assert [r.query for r in server.requests] == [{"verb": "ListRecords", "resumptionToken": TOKEN}]
    assert checkpoints(items)[-1].value["done"] is True


def test_harvest_stopped_after_page_one_continues_from_page_two(server):
    script_two_pages(server)
    url = server.url("/oai2")
    first_run = harvest(url, metadata_prefix="arXivRaw", sleep=FakeSleep())
    committed = []
    for item in first_run:
        committed.append(item)
        if isinstance(item, Checkpoint):
            break  # the process is killed right after the pipeline committed page 1
    first_run.close()
    saved = committed[-1]
    assert saved.value["token"] == TOKEN
    assert len(server.requests) == 1

    second = list(harvest(url, metadata_prefix="arXivRaw", resume=saved.value, sleep=FakeSleep()))
    assert [r.query for r in server.requests[1:]] == [{"verb": "ListRecords", "resumptionToken": TOKEN}]
    assert [p.id for p in papers(second)] == ["1302.2146"]
    assert checkpoints(second)[0].key == saved.key
    assert checkpoints(second)[0].value == {"token": None, "cursor": 1001, "complete_list_size": 1001, "done": True}


def test_done_checkpoint_means_harvest_again_from_the_start(server):
    script_two_pages(server)
    done = {"token": None, "cursor": 1001, "complete_list_size": 1001, "done": True}
    list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", resume=done, sleep=FakeSleep()))
    assert server.requests[0].query == {"verb": "ListRecords", "metadataPrefix": "arXivRaw"}


def test_set_from_until_are_sent_and_page_without_token_is_final(server):
    body = recorded("oai-pmh/hepcrawl/arxiv-physics-hep-ex.xml")  # ListRecords, no resumptionToken at all
    server.script({}, Reply(200, body))
    items = list(
        harvest(
            server.url("/oai2"),
            set_spec="physics:hep-ex",
            from_date="2017-12-14",
            until="2017-12-15",
            sleep=FakeSleep(),
        )
    )
    assert server.requests[0].query == {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "set": "physics:hep-ex",
        "from": "2017-12-14",
        "until": "2017-12-15",
    }
    assert len(papers(items)) == 3
    assert checkpoints(items)[-1].value == {"token": None, "cursor": 3, "complete_list_size": 3, "done": True}
    assert checkpoints(items)[-1].key.endswith("|arXiv|physics:hep-ex|2017-12-14|2017-12-15")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metadata_prefix": "marc21"}, "metadataPrefix"),
        ({"from_date": "14/12/2017"}, "'from' date"),
        ({"until": "2017-13-01"}, "'until' date"),
        ({"set_spec": "physics hep-ex"}, "invalid OAI set"),
    ],
)
def test_bad_arguments_fail_before_any_request(server, kwargs, message):
    with pytest.raises(SourceError, match=message):
        list(harvest(server.url("/oai2"), sleep=FakeSleep(), **kwargs))
    assert server.requests == []


# -- metadata formats, field by field


def test_arxivraw_fields():
    items = list(parse_records(recorded(RAW_PAGE), source="page"))
    by_id = {p.id: p for p in papers(items)}

    p = by_id["0704.0716"]
    assert p.title == "Limit distributions and scaling functions"
    assert p.arxiv_id == "0704.0716"
    assert p.submitter == "Christoph Richard"
    assert p.authors == [Author("Christoph Richard")]
    assert p.categories == ["math-ph", "math.MP"]
    assert p.versions == [
        Version(1, date(2007, 4, 5), "43kb"),
        Version(2, date(2007, 9, 28), "48kb"),
        Version(3, date(2008, 2, 29), "48kb"),
        Version(4, date(2008, 11, 14), "49kb"),
    ]
    assert (p.version, p.submitted, p.updated) == (4, date(2007, 4, 5), date(2008, 11, 14))
    assert p.comments == (
        "54 pages, 2 figures; v2 updated and slightly expanded; v3 changes in some proofs; v4 slightly expanded"
    )
    assert p.journal_ref == (
        "Polygons, polyominoes and polycubes, 247-299, Lecture Notes in Phys., 775, Springer, Dordrecht, 2009"
    )
    assert p.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert p.doi is None and p.report_no is None
    assert p.abstract.startswith(
        "We discuss the asymptotic behaviour of models of lattice polygons, mainly on the square"
    )
    assert p.abstract.endswith("this article is a pedagogic review of known results.")
    assert p.original["abstract"].startswith("  We discuss")  # the untouched text is kept
    assert p.links == {"abs": "https://arxiv.org/abs/0704.0716", "pdf": "https://arxiv.org/pdf/0704.0716"}
    assert p.source == "arxiv-oai"

    q = by_id["0704.0471"]
    assert [a.name for a in q.authors] == ["D.V. Shetty", "S.J. Yennello", "G.A. Souliotis"]
    assert q.doi == "10.1103/physrevc.76.024606"  # first of two DOIs, normalised
    assert q.links["doi"] == "https://doi.org/10.1103/physrevc.76.024606"
    assert q.journal_ref == "Phys.Rev.C76:024606,2007; Erratum-ibid.C76:039902,2007"
    assert q.title == (
        "Density dependence of the symmetry energy and the nuclear equation of state: "
        "A Dynamical and Statistical model perspective"
    )
    assert '" stiff " and " soft "' in q.abstract  # &quot; decoded
    assert q.categories == ["nucl-ex", "nucl-th"]
    assert q.versions == [Version(1, date(2007, 4, 3), "294kb")]
    assert by_id["0704.1109"].authors == [Author("Valeria M. Rosa"), Author("Patricio S. letelier")]


def test_arxiv_format_fields():
    items = list(parse_records(recorded("oai-pmh/hepcrawl/arxiv-physics-hep-ex.xml"), source="page"))
    p = {x.id: x for x in papers(items)}["1706.09418"]
    assert p.title == "R-Parity Violation at the LHC"
    assert [a.name for a in p.authors] == [
        "Daniel Dercks",
        "Herbi Dreiner",
        "Manuel E. Krauss",
        "Toby Opferkuch",
        "Annika Reinert",
    ]
    assert p.categories == ["hep-ph", "hep-ex"]
    assert (p.submitted, p.updated) == (date(2017, 6, 28), date(2017, 11, 26))
    assert p.versions == [] and p.version is None  # the arXiv format does not list versions
    assert p.report_no == "BONN-TH-2017-03"
    assert p.journal_ref == "Eur. Phys. J. C (2017) 77:856"
    assert p.doi == "10.1140/epjc/s10052-017-5414-4"
    assert p.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert p.comments.startswith("43 pages, 13 tables, 17 figures; updated Figs. 11-17 and Tab. 12 including NLO")
    assert p.abstract.startswith("We investigate the phenomenology of the MSSM")


def test_arxiv_format_pretty_printed_record():
    items = list(parse_records(recorded("oai-pmh/inspire-next/1305.0014.xml"), source="getrecord"))
    (p,) = items
    assert p.title.startswith("Framework for maximum likelihood analysis of neutron beta decay")
    assert p.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert p.categories == ["hep-ph", "hep-lat", "nucl-ex", "nucl-th"]
    assert [a.name for a in p.authors] == ["S. Gardner", "B. Plaster"]


def test_arxiv_format_suffix_and_multiple_affiliations():
    # hepcrawl's sample records are EDITED by their authors, but the author markup is arXiv's.
    four = papers(parse_records(recorded("oai-pmh/hepcrawl/sample_arxiv_record4.xml"), source="x"))[0]
    assert "R. W. IV" in [a.name for a in four.authors]  # forenames keyname suffix
    eight = papers(parse_records(recorded("oai-pmh/hepcrawl/sample_arxiv_record8.xml"), source="x"))[0]
    abe = next(a for a in eight.authors if a.name == "K. Abe")
    assert abe.affiliation == (
        "Kamioka Observatory, Institute for Cosmic Ray Research, University of Tokyo; "
        "Kavli Institute for the Physics and Mathematics of the Universe"
    )


def test_oai_dc_format():
    body = recorded("oai-pmh/atomiklabs/test_arxiv_data_oai_dc_cs_2024-01-27.xml")
    items = papers(parse_records(body, source="dc"))
    assert len(items) == 5
    p = items[0]
    assert (p.id, p.title) == ("1303.2033", "Extended Fourier analysis of signals")
    assert p.authors == [Author("Vilnis Liepins")]
    assert p.comments == "32 pages, 9 figures"
    assert (p.submitted, p.updated) == (date(2013, 3, 8), date(2024, 1, 23))
    assert p.abstract.startswith("This summary of the doctoral thesis")


def test_affiliations_and_503_retry_after_from_recording(server):
    """The real 2018 exchange: 503 'Retry after 10 seconds', then the page (arXiv format, affiliations)."""
    replies = recorded_nock(
        "oai-pmh/paperhive-nock/2018-2020/oaipmh-listrecords---should-list-identifiers-from-arxiv.json"
    )
    assert [r.status for r in replies] == [503, 200] and replies[0].headers["Retry-After"] == "10"
    server.script({}, *replies)
    sleep = FakeSleep()
    items = list(harvest(server.url("/oai2"), from_date="2015-01-01", until="2015-01-03", sleep=sleep))
    assert sleep.calls == [10.0]  # the server's Retry-After, not the backoff
    assert len(server.requests) == 2
    p = papers(items)[0]
    assert p.id == "1412.8544"
    assert p.authors == [
        Author("Sander Uijlen", "Radboud Universiteit"),
        Author("Bas Westerbaan", "Radboud Universiteit"),
    ]
    assert p.doi == "10.4204/eptcs.172.11"
    assert papers(items)[1].id == "hep-th/9504118" and papers(items)[1].report_no == "GOET-TP 101/95"


def test_deleted_records_are_skipped_and_untitled_records_rejected(server):
    deleted = (
        '<record><header status="deleted"><identifier>oai:arXiv.org:0704.9999</identifier>'
        "<datestamp>2015-01-01</datestamp></header></record>"
    )
    untitled = real_record(RAW_PAGE, 4)
    untitled = untitled.replace(
        "<title>Identification of Absorption Features in an Extrasolar Planet Atmosphere</title>", ""
    )
    assert "<title>" not in untitled
    inner = f"<ListRecords>\n{real_record(RAW_PAGE, 0)}\n{deleted}\n{untitled}\n</ListRecords>"
    server.script({}, Reply(200, oai_page({"verb": "ListRecords", "metadataPrefix": "arXivRaw"}, inner)))
    url = server.url("/oai2")
    items = list(harvest(url, metadata_prefix="arXivRaw", sleep=FakeSleep()))
    assert [p.id for p in papers(items)] == ["0704.0471"]
    (reject,) = [x for x in items if isinstance(x, Reject)]
    assert reject.source == url
    assert reject.location == "record oai:arXiv.org:0704.1114"
    assert "no title" in reject.reason
    assert "0704.1114" in reject.raw
    assert checkpoints(items)[-1].value["cursor"] == 3  # the deleted record still counts


# -- OAI error answers


@pytest.mark.parametrize(
    ("relpath", "message"),
    [
        (ERRORS + "ErrorResponseBadArgument.xml", "badArgument: Verb 'ListRecords', illegal argument 'identifier'."),
        (ERRORS + "ErrorResponseBadVerb.xml", "badVerb: Bad verb. Verb 'wah' not implemented."),
        (ERRORS + "ErrorResponseIdDoesNotExist.xml", "idDoesNotExist: Identifier 'oai:arXiv.org:0813.2274' has"),
        ("oai-pmh/inspire-next/1305.0014v1.xml", "individual versions. You must not include the 'v1'"),
        ("oai-pmh/inspire-next/is-malformed.xml", "idDoesNotExist: Malformed identifier `oai:arXiv.org:is-malformed'"),
        ("oai-pmh/inspire-next/1305.9999.xml", "does not correspond to an item in this repository"),
    ],
)
def test_recorded_oai_errors_raise_with_the_server_message(server, relpath, message):
    server.script({}, Reply(200, recorded(relpath)))
    with pytest.raises(SourceError) as info:
        list(harvest(server.url("/oai2"), sleep=FakeSleep()))
    assert message in str(info.value)
    assert len(server.requests) == 1  # an OAI error is an answer, not a transient failure


def test_cannot_disseminate_format(server):
    # Not in the recordings: built from the OAI-PMH 2.0 spec's error list (section 3.6).
    error = (
        "<error code=\"cannotDisseminateFormat\">'marcxml' is not supported by the item or by the repository.</error>"
    )
    server.script({}, Reply(200, oai_page({"verb": "ListRecords", "metadataPrefix": "arXivRaw"}, error)))
    with pytest.raises(SourceError, match="cannotDisseminateFormat: 'marcxml' is not supported"):
        list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", sleep=FakeSleep()))


def test_bad_resumption_token_tells_to_restart(server):
    server.script({}, Reply(200, recorded(ERRORS + "ErrorResponseBadResumptionToken.xml")))
    resume = {"token": "3", "cursor": 0, "complete_list_size": None, "done": False}
    with pytest.raises(SourceError) as info:
        list(harvest(server.url("/oai2"), resume=resume, sleep=FakeSleep()))
    text = str(info.value)
    assert "badResumptionToken" in text and "'3'" in text and "--restart" in text
    assert "illegal for this repository" in text


def test_no_records_match_ends_normally(server):
    server.script({}, Reply(200, recorded(ERRORS + "ErrorResponseNoRecordsMatch.xml")))
    items = list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", set_spec="moo", sleep=FakeSleep()))
    assert papers(items) == []
    assert [c.value for c in checkpoints(items)] == [
        {"token": None, "cursor": 0, "complete_list_size": 0, "done": True}
    ]


def test_not_an_oai_response(server):
    # paperhive's hand-made "malformed" fixture: a bare <error> root without the OAI-PMH envelope
    (reply,) = recorded_nock("oai-pmh/paperhive-nock/2018-2020/oaipmh-errors-should-reject-malformed-xml-arxiv.json")
    server.script({}, reply)
    with pytest.raises(SourceError, match="not an OAI-PMH response"):
        list(harvest(server.url("/oai2"), sleep=FakeSleep()))


def test_http_404_is_not_retried(server):
    with pytest.raises(SourceError, match="HTTP 404"):
        list(harvest(server.url("/nowhere"), sleep=FakeSleep()))  # nothing scripted: 404
    assert len(server.requests) == 1


def test_repeated_token_stops_instead_of_looping(server):
    server.script({}, Reply(200, recorded(RAW_PAGE)))  # the same token again on page 2
    with pytest.raises(SourceError, match="repeated resumptionToken"):
        list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", sleep=FakeSleep()))
    assert len(server.requests) == 2


# -- transient failures and retries


def test_connection_dropped_mid_page_then_success(server, caplog):
    body = recorded(RAW_PAGE)
    server.script({"metadataPrefix": "arXivRaw"}, Reply(200, body, drop_after=len(body) // 2), Reply(200, body))
    server.script({"resumptionToken": TOKEN}, Reply(200, final_page()))
    sleep = FakeSleep()
    items = list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", sleep=sleep))
    assert len(papers(items)) == 7
    assert sleep.calls == [3.0, 3.0]  # backoff before the retry, then the polite delay
    assert len(server.requests) == 3
    assert "connection dropped (peer closed connection without sending complete message body" in caplog.text


def test_connection_reset_before_answer_then_success(server, caplog):
    server.script({"metadataPrefix": "arXivRaw"}, Reply(reset=True), Reply(200, recorded(RAW_PAGE)))
    server.script({"resumptionToken": TOKEN}, Reply(200, final_page()))
    items = list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", delay=0, sleep=FakeSleep()))
    assert len(papers(items)) == 7
    assert "connection dropped (Server disconnected without sending a response" in caplog.text


def test_truncated_xml_is_retried(server):
    body = recorded(RAW_PAGE)
    server.script({"metadataPrefix": "arXivRaw"}, Reply(200, body[: len(body) - 200]), Reply(200, body))
    server.script({"resumptionToken": TOKEN}, Reply(200, final_page()))
    sleep = FakeSleep()
    items = list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", sleep=sleep))
    assert len(papers(items)) == 7
    assert len(server.requests) == 3


def test_truncated_xml_every_time_gives_up_with_source_error(server):
    body = recorded(RAW_PAGE)
    server.script({}, Reply(200, body[:5000]))
    sleep = FakeSleep()
    with pytest.raises(SourceError, match=r"giving up after 3 attempts; last error: malformed XML"):
        list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", max_retries=2, sleep=sleep))
    assert len(server.requests) == 3


def test_503_with_http_date_retry_after(server):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.script(
        {"metadataPrefix": "arXivRaw"}, Reply(503, b"busy", {"Retry-After": when}), Reply(200, recorded(RAW_PAGE))
    )
    server.script({"resumptionToken": TOKEN}, Reply(200, final_page()))
    sleep = FakeSleep()
    list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", sleep=sleep))
    assert 27 <= sleep.calls[0] <= 30
    assert sleep.calls[1:] == [3.0]


def test_retry_exhaustion_raises_with_exponential_backoff(server):
    server.script({}, Reply(500, b"Internal Server Error", {"Content-Type": "text/plain"}))
    sleep = FakeSleep()
    with pytest.raises(SourceError) as info:
        list(harvest(server.url("/oai2"), max_retries=3, sleep=sleep))
    assert "giving up after 4 attempts" in str(info.value) and "HTTP 500" in str(info.value)
    assert server.url("/oai2") in str(info.value)
    assert len(server.requests) == 4
    assert sleep.calls == [3.0, 6.0, 12.0]


def test_records_of_earlier_pages_stay_yielded_when_a_later_page_fails(server):
    server.script({"metadataPrefix": "arXivRaw"}, Reply(200, recorded(RAW_PAGE)))
    server.script({"resumptionToken": TOKEN}, Reply(502, b"Bad Gateway"))
    got = []
    with pytest.raises(SourceError, match="HTTP 502"):
        for item in harvest(server.url("/oai2"), metadata_prefix="arXivRaw", max_retries=1, sleep=FakeSleep()):
            got.append(item)
    assert len(papers(got)) == 6
    assert got[-1] == Checkpoint(got[-1].key, {"token": TOKEN, "cursor": 6, "complete_list_size": 58011, "done": False})


def test_connection_refused_is_retried_then_reported():
    url = f"http://127.0.0.1:{free_port()}/oai2"
    sleep = FakeSleep()
    with pytest.raises(SourceError, match="giving up after 3 attempts; last error: network error"):
        list(harvest(url, max_retries=2, delay=0, sleep=sleep))
    assert sleep.calls == [1.0, 2.0]


def test_read_timeout_is_retried(server, caplog):
    server.script(
        {"metadataPrefix": "arXivRaw"}, Reply(200, recorded(RAW_PAGE), pause=1.0), Reply(200, recorded(RAW_PAGE))
    )
    server.script({"resumptionToken": TOKEN}, Reply(200, final_page()))
    with httpx.Client(timeout=0.2) as client:
        items = list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", client=client, sleep=FakeSleep()))
    assert len(papers(items)) == 7
    assert "timed out (ReadTimeout)" in caplog.text


def test_retry_after_parsing():
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("10") == 10.0
    assert retry_after_seconds("Mon, 01 Jan 2024 12:00:20 GMT", now=now) == 20.0
    assert retry_after_seconds("Mon, 01 Jan 2024 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


# -- hostile documents

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header>
<identifier>oai:arXiv.org:0704.0001</identifier></header><metadata>
<arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/"><id>0704.0001</id><title>&lol9;</title></arXivRaw>
</metadata></record></ListRecords></OAI-PMH>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header>
<identifier>oai:arXiv.org:0704.0001</identifier></header><metadata>
<arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/"><id>0704.0001</id><title>&x;</title></arXivRaw>
</metadata></record></ListRecords></OAI-PMH>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "external-entity"])
def test_hostile_documents_are_refused_without_expansion(server, doc):
    server.script({}, Reply(200, doc))
    started = time.monotonic()
    got = []
    with pytest.raises(UnsafeXML, match="entity declarations") as info:
        got.extend(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", sleep=FakeSleep()))
    assert time.monotonic() - started < 5
    assert got == []
    assert len(server.requests) == 1  # refused outright, not retried
    assert "root:" not in str(info.value)


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "external-entity"])
def test_parser_never_expands_entities_even_past_the_prefilter(doc):
    # Push the DOCTYPE beyond the quick prefilter window: lxml's own hardening must still hold.
    padded = doc.replace(b"<!DOCTYPE", b"<!--" + b" " * 70000 + b"-->\n<!DOCTYPE", 1)
    with pytest.raises(UnsafeXML):
        parse_xml(padded, what="test")
    with pytest.raises(SourceError):
        list(parse_records(padded, source="test"))


def _external_dtd(url: str) -> bytes:
    return (b'<?xml version="1.0"?>\n<!DOCTYPE OAI-PMH SYSTEM "' + url.encode() + b'">\n'
            + final_page().split(b"?>", 1)[1])


def test_external_dtd_naming_a_local_file_is_refused(server):
    server.script({}, Reply(200, _external_dtd("file:///etc/passwd")))
    with pytest.raises(UnsafeXML, match="external DTD") as info:
        list(harvest(server.url("/oai2"), metadata_prefix="arXivRaw", sleep=FakeSleep()))
    assert len(server.requests) == 1 and "root:" not in str(info.value)  # refused, not opened, not retried


def test_external_dtd_naming_stdin_is_refused_promptly(server):
    # Before the fix libxml2 opened the "DTD" and blocked reading it: run the harvest in a child whose
    # standard input stays open, so a regression shows as a timeout here instead of hanging the suite.
    import subprocess

    import paperboy

    server.script({}, Reply(200, _external_dtd("file:///dev/stdin")))
    code = ("import sys; from paperboy.sources.oai import harvest; from paperboy.sources.fetch import UnsafeXML\n"
            "try:\n    list(harvest(sys.argv[1], metadata_prefix='arXivRaw', delay=0))\n"
            "except UnsafeXML as exc:\n    print('refused:', exc)\n")
    env = {"PYTHONPATH": str(Path(paperboy.__file__).parents[1]), "PATH": "/usr/bin:/bin"}
    child = subprocess.Popen([sys.executable, "-c", code, server.url("/oai2")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert "refused:" in out and "external DTD" in out, err
