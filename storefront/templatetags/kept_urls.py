"""{% url %}, with each reversed URL kept per process: ``{% load kept_urls %}`` in a template replaces
Django's tag there. Django's reverse() cost about 47 µs a call here (the resolver's candidates, its
regular expressions, the thread's script prefix and urlconf), and the layout alone reverses a dozen
fixed links on every page: half a millisecond of a new visitor's homepage. The URL of a name and its
arguments changes only with the code, so it is kept per (urlconf, script prefix, name, arguments,
current app); arguments that are not plain strings or ints are reversed each time, as by Django."""

from functools import lru_cache

from django import template
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = template.Library()


def _plain(value) -> bool:
    # Not bool: True == 1 as a key, but reverses to "True".
    return isinstance(value, str) or type(value) is int


class KeptURLNode(URLNode):
    def render(self, context):
        view_name = self.view_name.resolve(context)
        args = tuple(arg.resolve(context) for arg in self.args)
        kwargs = tuple(sorted((key, value.resolve(context)) for key, value in self.kwargs.items()))
        if not (isinstance(view_name, str) and all(map(_plain, args)) and all(_plain(v) for _, v in kwargs)):
            return super().render(context)
        try:  # as Django's tag finds the current app
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        try:
            url = _reversed(get_urlconf(), get_script_prefix(), view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
            url = ""
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@lru_cache(maxsize=4096)
def _reversed(urlconf, prefix: str, view_name: str, args: tuple, kwargs: tuple, current_app) -> str:
    # reverse() reads the thread's urlconf and script prefix itself: both are in the key.
    return reverse(view_name, urlconf=urlconf, args=args, kwargs=dict(kwargs), current_app=current_app)


@register.tag
def url(parser, token):
    node = django_url(parser, token)
    return KeptURLNode(node.view_name, node.args, node.kwargs, node.asvar)
