"""
The demo page and the client module as the server hands them out; the
browser tests in tests/browser/ show that they work.
"""

import re

import pytest
from django.contrib.staticfiles import finders


@pytest.fixture
def page(client):
    return client.get("/")


def test_the_demo_page_is_served_at_the_root(page):
    assert page.status_code == 200
    assert page["Content-Type"] == "text/html; charset=utf-8"


def test_the_demo_page_runs_under_a_strict_content_security_policy(page):
    """Scripts and styles from our own origin only: an injected inline script would not run."""
    policy = dict(directive.split(" ", 1) for directive in page["Content-Security-Policy"].split("; "))

    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


def test_the_demo_page_has_no_inline_script_or_style(page):
    html = page.content.decode()

    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="/static/webclient/demo.js">']
    assert re.findall(r"<script[^>]*>(.*?)</script>", html, re.DOTALL) == [""]
    assert re.search(r"\sstyle=|\son[a-z]+=|<style", html) is None


def test_the_demo_page_only_answers_get(client):
    assert client.post("/").status_code == 405


@pytest.mark.parametrize(
    "path", ["authsvc/authsvc.js", "webclient/demo.js", "webclient/page.js", "webclient/account.js", "webclient/demo.css"]
)
def test_the_static_files_are_found(path):
    assert finders.find(path)


def test_the_client_module_keeps_tokens_out_of_web_storage():
    """authsvc.js stores nothing where a script could read it later (OWASP HTML5 Security Cheat Sheet)."""
    with open(finders.find("authsvc/authsvc.js"), encoding="utf-8") as source:
        code = "\n".join(line for line in source if not line.lstrip().startswith(("*", "/*", "//")))

    assert "localStorage" not in code
    assert "sessionStorage" not in code
    assert 'credentials: "include"' in code
