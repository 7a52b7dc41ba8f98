"""manage.py seed_blog."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from services.blog.models import Author, Comment, Post


def test_seed_blog_creates_what_it_says(blog_tables, api):
    out = io.StringIO()
    call_command("seed_blog", authors=3, posts=7, comments=2, stdout=out)
    assert "3 authors, 7 posts and 14 comments" in out.getvalue()
    assert Author.objects.count() == 3
    assert Post.objects.count() == 7
    assert Comment.objects.count() == 14
    page = api.get("/api/posts/?limit=100").json()
    assert len(page["results"]) == 7
    detail = api.get(f"/api/posts/{page['results'][0]['pk']}/").json()
    assert len(detail["comments"]) == 2


def test_seed_blog_runs_twice_without_conflicts(blog_tables):
    call_command("seed_blog", authors=1, posts=1, comments=0, stdout=io.StringIO())
    call_command("seed_blog", authors=1, posts=1, comments=0, stdout=io.StringIO())
    assert Author.objects.count() == 2


def test_seed_blog_refuses_posts_without_authors(no_dynamodb):
    with pytest.raises(CommandError):
        call_command("seed_blog", authors=0, posts=1, stdout=io.StringIO())
