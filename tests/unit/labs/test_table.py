"""labs.Table: a list of dicts that prints as a text table and renders as HTML in Jupyter."""

from __future__ import annotations

from labs.table import Table


def test_table_is_a_list_of_rows_with_columns_in_first_seen_order() -> None:
    table = Table([{"name": "web-1", "revision": 41}, {"name": "web-2", "phase": "Running"}], title="pods")
    assert table == [{"name": "web-1", "revision": 41}, {"name": "web-2", "phase": "Running"}]
    assert table.columns == ["name", "revision", "phase"]
    assert table.column("revision") == [41, None]
    assert table[0]["name"] == "web-1"


def test_repr_is_an_aligned_text_table_with_the_title_and_dashes_for_missing_values() -> None:
    table = Table([{"name": "web-1", "revision": 41}, {"name": "a", "revision": 7}], title="pods")
    assert repr(table) == "pods\nNAME   REVISION\nweb-1  41\na      7"
    assert repr(Table([{"a": None}])) == "A\n-"


def test_an_empty_table_says_so() -> None:
    assert repr(Table([], columns=["id", "type"])) == "ID  TYPE\n(no rows)"
    assert "(no rows)" in Table([], columns=["id"])._repr_html_()


def test_html_escapes_values_and_shortens_long_ones_without_changing_the_data() -> None:
    long = "x" * 200
    table = Table([{"name": "<script>", "data": long}], title="a & b")
    html = table._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "a &amp; b" in html
    assert long not in html and "x" * 79 + "…" in html
    assert table[0]["data"] == long
    assert "class='labkit-table'" in html


def test_explicit_columns_choose_and_order_what_is_shown() -> None:
    table = Table([{"b": 2, "a": 1, "hidden": 3}], columns=["a", "b"])
    assert repr(table) == "A  B\n1  2"
