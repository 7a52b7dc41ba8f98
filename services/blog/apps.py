"""App configuration for the blog service."""

from django.apps import AppConfig


class BlogConfig(AppConfig):
    name = "services.blog"
    label = "blog"
    verbose_name = "Blog"
