"""``manage.py seed_blog``: fill the blog with demo authors, posts and comments."""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand, CommandError

from dynamo_backend.table import ensure_table
from services.blog.models import Author, Comment, Post

WORDS = [
    "dynamo",
    "partition",
    "sort",
    "key",
    "index",
    "query",
    "scan",
    "cache",
    "batch",
    "item",
    "table",
    "django",
    "model",
    "view",
    "request",
    "latency",
    "throughput",
    "stream",
    "shard",
    "capacity",
]


def _sentence(rng_index: int, length: int) -> str:
    return " ".join(WORDS[(rng_index * 7 + i * 3) % len(WORDS)] for i in range(length))


class Command(BaseCommand):
    help = "Create demo data: N authors, N posts (spread over the authors), N comments per post."

    def add_arguments(self, parser):
        parser.add_argument("--authors", type=int, default=5, help="authors to create (default 5)")
        parser.add_argument("--posts", type=int, default=20, help="posts in total (default 20)")
        parser.add_argument("--comments", type=int, default=3, help="comments per post (default 3)")
        parser.add_argument(
            "--no-create-tables",
            action="store_true",
            help="do not create missing tables first",
        )

    def handle(self, *args, authors: int, posts: int, comments: int, no_create_tables: bool, **options):
        if authors < 0 or posts < 0 or comments < 0:
            raise CommandError("--authors, --posts and --comments must be >= 0")
        if posts and not authors:
            raise CommandError("posts need at least one author (--authors >= 1)")
        if not no_create_tables:
            for model in (Author, Post, Comment):
                ensure_table(model)

        run = secrets.token_hex(3)  # keeps usernames/slugs unique across runs
        author_objs = [
            Author(
                username=f"author-{run}-{i}",
                email=f"author-{run}-{i}@example.com",
                bio=f"Demo author {i}: {_sentence(i, 6)}.",
            )
            for i in range(authors)
        ]
        Author.objects.bulk_create(author_objs)

        post_objs = [
            Post(
                title=f"Post {i}: {_sentence(i, 4)}",
                slug=f"post-{run}-{i}",
                body=_sentence(i, 40),
                author_pk=author_objs[i % authors].pk,
                published=i % 4 != 0,
                tags=[WORDS[i % len(WORDS)], WORDS[(i + 5) % len(WORDS)]],
            )
            for i in range(posts)
        ]
        Post.objects.bulk_create(post_objs)

        comment_objs = [
            Comment(
                post_pk=post.pk,
                author_pk=author_objs[(p + c + 1) % authors].pk,
                body=f"Comment {c} on post {p}: {_sentence(p + c, 8)}.",
            )
            for p, post in enumerate(post_objs)
            for c in range(comments)
        ]
        Comment.objects.bulk_create(comment_objs)

        self.stdout.write(
            f"Created {len(author_objs)} authors, {len(post_objs)} posts and {len(comment_objs)} comments (run {run})."
        )
        if author_objs:
            self.stdout.write(f"  e.g. author {author_objs[0].pk} ({author_objs[0].username})")
        if post_objs:
            self.stdout.write(f"  e.g. post   {post_objs[0].pk} (/api/posts/{post_objs[0].pk}/)")
