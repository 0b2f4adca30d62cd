"""Shared fixtures live in tests/fixtures/, one module per concern."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.temporal",
    "tests.fixtures.devserver",
    "tests.fixtures.api",
    "tests.fixtures.smtp",
    "tests.fixtures.browser",
    "tests.fixtures.oidc",
]
