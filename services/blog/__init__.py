"""The blog service: authors, posts and comments over a JSON REST API."""
