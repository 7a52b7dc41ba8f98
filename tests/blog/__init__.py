"""Blog service tests (Django test client against moto)."""
