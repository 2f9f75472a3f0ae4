"""{% load kept_urls %}: Django's {% url %}, each reversed URL kept per process."""

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, clear_script_prefix, set_script_prefix

KEPT = "{% load kept_urls %}"


def both(source: str, **context) -> tuple[str, str]:
    """(Django's rendering, the kept tag's rendering, twice: the second from what it kept)."""
    django = Template(source).render(Context(context))
    kept = Template(KEPT + source)
    first, second = kept.render(Context(context)), kept.render(Context(context))
    assert first == second
    return django, first


@pytest.mark.parametrize(
    ("source", "context"),
    [
        ("{% url 'home' %}", {}),
        ("{% url 'cart-add' pk %}", {"pk": 42}),
        ("{% url 'cart-add' pk=pk %}", {"pk": "7"}),
        ("{% url name pk %}", {"name": "product-detail", "pk": 3}),
        ("{% url 'photo-search' as link %}[{{ link }}]", {}),
        ("{% url 'no-such-view' as link %}[{{ link }}]", {}),
        ("{% url 'product-detail' pk %}|{% url 'product-detail' other %}", {"pk": 1, "other": 2}),
    ],
)
def test_the_kept_tag_renders_what_djangos_renders(source, context):
    django, kept = both(source, **context)
    assert kept == django and kept


def test_an_argument_that_is_not_a_plain_string_or_int_is_reversed_each_time():
    # True equals 1 as a key of a cache, but Django reverses it to "True" (refused by <int:pk>).
    assert both("{% url 'cart-add' 1 %}") == ("/cart/add/1/", "/cart/add/1/")
    with pytest.raises(NoReverseMatch):
        Template(KEPT + "{% url 'cart-add' flag %}").render(Context({"flag": True}))


def test_an_unknown_name_still_raises():
    with pytest.raises(NoReverseMatch):
        Template(KEPT + "{% url 'no-such-view' %}").render(Context({}))


def test_a_url_is_kept_per_script_prefix():
    """A store mounted under a prefix (SCRIPT_NAME) gets links under it, never one kept for another."""
    source = Template(KEPT + "{% url 'cart' %}")
    assert source.render(Context({})) == "/cart/"
    set_script_prefix("/shop/")
    try:
        assert source.render(Context({})) == "/shop/cart/"
    finally:
        clear_script_prefix()
        set_script_prefix("/")
    assert source.render(Context({})) == "/cart/"
