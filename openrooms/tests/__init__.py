"""Tests across the whole site: tenancy, over every URL of the site and the API."""
