"""Hugging Face Papers API compatibility, tested with the real client: ``huggingface_hub.HfApi`` pointed at us.

If the Hub's client can parse our answers into its ``PaperInfo`` objects (and its error handling sees our
errors as HTTP errors), scripts written for the Hub work against a self-hosted paperboy by changing only
the endpoint.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import httpx
import pytest

from fixtures.web import Site

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
huggingface_hub = pytest.importorskip("huggingface_hub")
from huggingface_hub import HfApi  # noqa: E402
from huggingface_hub.errors import HfHubHTTPError  # noqa: E402
from huggingface_hub.hf_api import PaperInfo  # noqa: E402


@pytest.fixture(scope="module")
def api(site: Site) -> HfApi:
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        pytest.skip("HF_HUB_OFFLINE is set: the client refuses every request, even to a local endpoint")
    return HfApi(endpoint=site.url, token=False)


def test_paper_info(api: HfApi) -> None:
    info = api.paper_info("0704.0001")
    assert isinstance(info, PaperInfo)
    assert info.id == "0704.0001"
    assert info.title.startswith("Calculation of prompt diphoton production")
    assert info.summary.startswith("A fully differential calculation")
    assert [a.name for a in info.authors] == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert info.published_at == datetime(2007, 4, 2, tzinfo=UTC)
    assert info.upvotes == 0 and info.comments == 0 and isinstance(info.discussion_id, str)
    assert api.paper_info("0704.0001v2").id == "0704.0001"
    assert api.paper_info("acc-phys/9411001").id == "acc-phys/9411001"


def test_paper_info_unknown_is_an_http_error(api: HfApi) -> None:
    with pytest.raises(HfHubHTTPError) as err:
        api.paper_info("9912.99999")
    assert err.value.response.status_code == 404


def test_list_papers_search(api: HfApi) -> None:
    papers = list(api.list_papers(query="dark matter", limit=5))
    assert 1 <= len(papers) <= 5
    assert all(isinstance(p, PaperInfo) and p.id and p.title for p in papers)
    assert any("dark matter" in (p.title + " " + (p.summary or "")).lower() for p in papers)
    assert all(p.published_at is None or p.published_at.tzinfo is not None for p in papers)
    assert list(api.list_papers(query="0704.0001"))[0].id == "0704.0001"  # exact ids pinned first


def test_list_papers_without_query_lists_newest(api: HfApi) -> None:
    papers = list(api.list_papers(limit=3))
    assert len(papers) == 3 and papers[0].id == "hostile-1"


def test_list_daily_papers_by_date_week_month(api: HfApi) -> None:
    day = list(api.list_daily_papers(date="2007-04-02", limit=100))
    assert day and all(p.published_at.date() == date(2007, 4, 2) for p in day)
    assert all(p.submitted_at == p.published_at for p in day)
    week = list(api.list_daily_papers(week="2007-W14", limit=100))  # 2007-04-02 .. 2007-04-08
    assert len(week) >= len(day)
    assert all(date(2007, 4, 2) <= p.published_at.date() <= date(2007, 4, 8) for p in week)
    month = list(api.list_daily_papers(month="2007-04", limit=100))
    assert len(month) == 100 and all(p.published_at.date().strftime("%Y-%m") == "2007-04" for p in month)
    days = [p.published_at for p in month]
    assert days == sorted(days, reverse=True)  # publishedAt order: newest first


def test_list_daily_papers_paging_and_sort(api: HfApi) -> None:
    p0 = [p.id for p in api.list_daily_papers(month="2007-04", limit=10, p=0)]
    p1 = [p.id for p in api.list_daily_papers(month="2007-04", limit=10, p=1)]
    assert len(p0) == 10 and len(p1) == 10 and not set(p0) & set(p1)
    trending = [p.id for p in api.list_daily_papers(month="2007-04", limit=10, sort="trending")]
    assert len(trending) == 10
    assert list(api.list_daily_papers(submitter="someone")) == []
    assert list(api.list_daily_papers(date="1980-01-01")) == []
    assert len(list(api.list_daily_papers(limit=4))) == 4  # no date: the newest


@pytest.mark.parametrize("kwargs", [{"date": "2007-13-01"}, {"week": "2007-W60"}, {"month": "2007-4"},
                                    {"date": "yesterday"}, {"date": "2007-04-02", "month": "2007-04"},
                                    {"sort": "votes"}, {"limit": 100000}, {"p": -1}])
def test_list_daily_papers_bad_parameters(api: HfApi, kwargs: dict) -> None:
    with pytest.raises(HfHubHTTPError) as err:
        list(api.list_daily_papers(**kwargs))
    assert 400 <= err.value.response.status_code < 500


def test_raw_shapes(client: httpx.Client) -> None:
    paper = client.get("/api/papers/0704.0001").json()
    assert isinstance(paper["authors"], list) and set(paper["authors"][0]) >= {"_id", "name", "hidden"}
    assert len(paper["authors"][0]["_id"]) == 24 and paper["authors"][0]["hidden"] is False
    assert paper["publishedAt"] == "2007-04-02T00:00:00.000Z"
    assert isinstance(paper["upvotes"], int) and isinstance(paper["summary"], str)
    items = client.get("/api/daily_papers", params={"date": "2007-04-02", "limit": 2}).json()
    assert isinstance(items, list) and len(items) == 2
    item = items[0]
    assert set(item) >= {"paper", "publishedAt", "title", "summary", "numComments"}
    assert item["title"] == item["paper"]["title"] and item["paper"]["id"]
    search = client.get("/api/papers/search", params={"q": "galaxy"}).json()
    assert isinstance(search, list) and search and set(search[0]) >= {"paper", "title", "publishedAt"}
    err = client.get("/api/daily_papers", params={"date": "bad"})
    assert err.status_code == 400 and isinstance(err.json()["error"], str)


def test_hostile_text_in_hf_shapes(client: httpx.Client) -> None:
    paper = client.get("/api/papers/hostile-1").json()
    assert paper["title"].startswith('<script>alert("title")</script>')
    assert paper["authors"][0]["name"].startswith("<script>")
    assert client.get("/api/papers/hostile-1").headers["x-content-type-options"] == "nosniff"


def test_hf_author_names_are_readable_and_lists_capped(client: httpx.Client) -> None:
    paper = client.get("/api/papers/0704.0001").json()
    assert "C. Balázs" in [a["name"] for a in paper["authors"]]
    items = client.get("/api/papers/search", params={"q": "telescope scheduling crowd"}).json()
    crowd = next(i["paper"] for i in items if i["paper"]["id"] == "crowd-1")
    assert len(crowd["authors"]) == 20 and len(client.get("/api/papers/crowd-1").json()["authors"]) == 60
