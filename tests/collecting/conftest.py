"""The API clients of tests/api, for the collection sheet's API tests."""

from tests.api.conftest import accountant_api, api_as, officer_api

__all__ = ["accountant_api", "api_as", "officer_api"]
