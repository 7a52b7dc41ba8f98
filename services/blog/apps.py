"""App configuration for the blog service."""

from django.apps import AppConfig


class BlogConfig(AppConfig):
    name = "services.blog"
    label = "blog"
    verbose_name = "Blog"

    def ready(self) -> None:
        # Connects the signal receiver that deletes an author's API tokens with the author.
        from . import auth  # noqa: F401
