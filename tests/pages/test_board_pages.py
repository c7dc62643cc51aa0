"""The big screen's figures: one selector for a unit and a day; the page and its JSON."""

import pytest

from dispatch.board import board_figures, masked

pytestmark = pytest.mark.django_db


def test_todays_figures_follow_the_orders(story, station):
    story.closed()
    story.placed()

    figures = board_figures(None)

    assert figures["counters"] == {"placed": 2, "dispatched": 1, "accepted": 1, "completed": 1, "rated": 1}
    assert figures["by_state"] == {"closed": 1, "submitted": 1}
    assert figures["accept_minutes"]["median"] is not None
    assert figures["satisfaction"] == {"avg": 5.0, "ratings": 1}
    assert figures["month_hours"] == 2.0
    assert sum(figures["by_hour"]) == 2
    assert [s["n"] for s in figures["stations"] if s["id"] == station.pk] == [2]
    assert figures["latest"][0]["who"] == "王*"


def test_a_unit_sees_only_its_subtree(story, other_station):
    story.placed()

    assert board_figures(other_station)["counters"]["placed"] == 0


def test_names_are_masked_on_the_screen():
    assert (masked("张三丰"), masked(""), masked(" 李 ")) == ("张*", "*", "李*")


def test_the_board_page_and_its_json(browser_for, story, dispatcher, citizen):
    story.placed()
    client = browser_for(dispatcher)

    page = client.get("/board/").content.decode()
    data = client.get("/board/figures.json").json()

    assert 'id="board-figures"' in page and "echarts" in page and 'data-stream-user="' in page
    assert data["counters"]["placed"] == 1
    assert browser_for(citizen).get("/board/").status_code == 403
